"""The validator process (an adapter around the pure replica): storage, peer transport, mempool,
node HTTP API. Entry points: ``manage.py run_validator`` / ``python -m ledger.node`` and
``manage.py ledger_devnet``; see node.py for how the replica is driven."""
