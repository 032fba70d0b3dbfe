"""``affectstream run`` for a config with ``[cluster]``: one worker, stopped cleanly by SIGINT
or SIGTERM (it saves its devices and releases its partitions first)."""

from __future__ import annotations

import asyncio
import signal

from affectstream.stream.config import DaemonConfig


async def serve_worker(cfg: DaemonConfig) -> int:
    """Run one :class:`~affectstream.cluster.worker.ClusterWorker` until a signal; exit code."""
    try:
        from affectstream.cluster.worker import ClusterWorker
    except ImportError as exc:  # nats-py missing
        raise SystemExit(
            f"affectstream run: [cluster] needs the cluster extra ({exc}); "
            "pip install 'affectstream[cluster]'"
        ) from None
    worker = ClusterWorker(cfg)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop.set)
    await worker.run()
    return 0
