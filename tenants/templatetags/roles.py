"""``{% if org_ctx|has_role:"operator" %}``: show a link only to the roles its view accepts."""

from __future__ import annotations

from django import template

from tenants.access import OrgContext
from tenants.roles import Role

register = template.Library()


@register.filter
def has_role(ctx: OrgContext | None, minimum: str) -> bool:
    return ctx is not None and ctx.has_role(Role(minimum))
