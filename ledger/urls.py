"""Ledger explorer pages, included under ``/o/<org>/``."""

from django.urls import path

from ledger import views

org_urlpatterns = [
    path("ledger/", views.overview, name="ledger_overview"),
    path("ledger/blocks/", views.blocks, name="ledger_blocks"),
    path("ledger/blocks/<int:height>/", views.block_detail, name="ledger_block"),
    path("ledger/txs/<str:tx_hash>/", views.tx_detail, name="ledger_tx"),
    path("ledger/validators/", views.validators, name="ledger_validators"),
    path("ledger/keys/rotate/", views.key_rotate, name="ledger_key_rotate"),
]

urlpatterns = org_urlpatterns
