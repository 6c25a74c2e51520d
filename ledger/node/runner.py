"""Build a validator from its configuration file and run it until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from ledger.consensus.crypto import backend

from .api import ApiServer
from .chain import ChainSpec
from .config import NodeConfig, load_secret_key
from .node import Node

__all__ = ["run_validator"]

logger = logging.getLogger(__name__)


async def _serve(config: NodeConfig) -> None:
    crypto = backend(config.crypto)
    spec = ChainSpec.load(config.genesis_file)
    node = Node(config=config, spec=spec, secret_key=load_secret_key(config), crypto=crypto)
    api = ApiServer(node, config.http_host, config.http_port, test_faults=config.test_faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    await api.start()
    logger.info(
        "validator %d (%s) on %s:%d, API http://%s:%d, crypto %s",
        config.index, config.name, config.listen_host, config.listen_port,
        config.http_host, config.http_port, crypto.name,
    )  # fmt: skip
    await stop.wait()
    logger.info("validator %d stopping", config.index)
    await api.stop()
    await node.stop()


def run_validator(config_path: Path) -> None:
    """Parse, build, run until a signal, stop gracefully (storage is durable at every step)."""
    config = NodeConfig.load(config_path)
    asyncio.run(_serve(config))
