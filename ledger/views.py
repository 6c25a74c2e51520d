"""Server-rendered ledger explorer, under ``/o/<org>/ledger/`` so the organization's live feed
(which also carries the alliance-wide ``block.committed`` events) can update the pages.

Blocks, transactions and validators are alliance-wide; the overview page shows the
organization's own outbox, transactions, accounts and keys. Every page works without
JavaScript; ``portal/static/ledger/ledger.js`` adds live rows from ``portal:event``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kernel.patterns import HEX_DIGEST_ANY_CASE
from ledger import selectors, services
from ledger.errors import LedgerError
from tenants.access import OrgContext
from tenants.decorators import org_view
from tenants.roles import Role


@org_view(Role.VIEWER)
def overview(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    organization = ctx.organization
    return render(
        request,
        "ledger/overview.html",
        {
            "ctx": ctx,
            "outbox": selectors.outbox_list(organization=organization)[:50],
            "transactions": selectors.transaction_list_for_organization(organization=organization)[
                :50
            ],
            "accounts": selectors.account_list(organization=organization),
            "keys": (
                organization.ledger_keys.order_by("-id") if ctx.has_role(Role.ADMIN) else None
            ),
            "can_rotate": ctx.has_role(Role.OWNER),
        },
    )


@org_view(Role.VIEWER)
def blocks(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    if query:
        # One search box: a height goes to the block, a hash to the transaction or block.
        # ASCII digits only: isdigit() also accepts "²", which int() then refuses.
        if query.isascii() and query.isdigit() and len(query) < 19:
            return redirect("ledger_block", org=ctx.organization.slug, height=int(query))
        if HEX_DIGEST_ANY_CASE.fullmatch(query):
            block = selectors.block_list().filter(hash=query.lower()).first()
            if block is not None:
                return redirect("ledger_block", org=ctx.organization.slug, height=block.height)
            return redirect("ledger_tx", org=ctx.organization.slug, tx_hash=query.lower())
        messages.error(request, "Search for a block height or a 64-digit hash.")
    page = Paginator(selectors.block_list(), 50).get_page(request.GET.get("page"))
    return render(request, "ledger/blocks.html", {"ctx": ctx, "page": page, "query": query})


@org_view(Role.VIEWER)
def block_detail(request: HttpRequest, ctx: OrgContext, height: int) -> HttpResponse:
    block = selectors.block_get(height=height) if height < 2**63 else None
    if block is None:
        raise Http404("No such block")
    txs = block.transactions.order_by("position")
    return render(request, "ledger/block.html", {"ctx": ctx, "blk": block, "transactions": txs})


@org_view(Role.VIEWER)
def tx_detail(request: HttpRequest, ctx: OrgContext, tx_hash: str) -> HttpResponse:
    tx = (
        selectors.transaction_get(tx_hash=tx_hash)
        if HEX_DIGEST_ANY_CASE.fullmatch(tx_hash)
        else None
    )
    if tx is None:
        raise Http404("No such transaction")
    return render(request, "ledger/transaction.html", {"ctx": ctx, "tx": tx})


@org_view(Role.VIEWER)
def validators(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    return render(
        request,
        "ledger/validators.html",
        {"ctx": ctx, "nodes": services.validator_health()},
    )


@require_POST
@org_view(Role.OWNER)
def key_rotate(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    try:
        services.organization_key_rotate(organization=ctx.organization)
    except LedgerError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Key rotation queued. It is sent once more than two thirds of the validator "
            "organizations have approved it.",
        )
    return redirect("ledger_overview", org=ctx.organization.slug)
