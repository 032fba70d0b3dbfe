"""``affectstream demo --dashboard``: the bundled replay shown in the live dashboard."""

from __future__ import annotations

import argparse
import asyncio
import signal

from affectstream.data import Recording
from affectstream.tools.dashboard_cmd import EXTRA_HINT


def run_demo_dashboard(args: argparse.Namespace, rec: Recording) -> int:
    """Serve the dashboard on 127.0.0.1:``args.port`` and replay ``rec`` into it through the
    monitor (with ``calibrating`` records every 30 s of data, as the daemon sends them); keep
    serving after the replay until SIGINT/SIGTERM."""
    try:
        from affectstream.dashboard.model_info import model_info
        from affectstream.dashboard.replay_feed import feed_replay
        from affectstream.dashboard.server import serve
        from affectstream.dashboard.state import DashboardState
    except ImportError as exc:
        raise ImportError(f"{EXTRA_HINT} ({exc})") from None
    from affectstream.stream.monitor import Monitor

    mon = Monitor(args.model, hop_s=args.hop, warmup_every_s=30.0)
    state = DashboardState(model_info(args.model))
    speed = 10.0 if args.speed is None else args.speed
    device = rec.subject or "demo"

    async def replay(stop: asyncio.Event) -> None:
        n = await feed_replay(state, rec, mon, device, speed, stop)
        if not stop.is_set():
            print(
                f"replay finished: {n} records of {device}; the page stays up until Ctrl-C",
                flush=True,
            )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            state,
            stop,
            port=args.port,
            tasks=[replay],
            on_ready=lambda url: print(
                f"affectstream demo: {rec.meta.get('excerpt_of', rec.source)} at {speed:g}x "
                f"real time through {mon.predictor.model_id}: open {url}",
                flush=True,
            ),
        )

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"affectstream demo: cannot listen on 127.0.0.1:{args.port}: {exc}")
        return 2
    return 0
