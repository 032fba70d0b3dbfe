"""``affectstream record``: what a live source delivers, written to ``.npz`` sessions."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from affectstream.stream.recorder import DEFAULT_FLUSH_S, DEFAULT_ROTATE_S

#: LSL stream types recorded by default.
DEFAULT_TYPES = ("ECG", "EDA", "TEMP", "BVP", "RESP", "HR", "IBI")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``record`` subcommand."""
    p = sub.add_parser(
        "record",
        help="write what MQTT devices or LSL streams send to .npz sessions",
        description="Record live sources to the project's .npz: one file per device and "
        "session (DIR/<device>_<start>.npz), rewritten every --flush-s seconds so a crash loses "
        "at most that much, a new part after --rotate-s seconds. From MQTT: the raw topics "
        "affectstream/<device>/raw/<modality>. From LSL: streams of --types, and string marker "
        "streams (type Markers; 'LABEL:start' / 'LABEL:end' become labels). Stops on Ctrl-C, "
        "SIGTERM or after --duration seconds. The files read back as a data set "
        "(affectstream data info DIR) and replay as they were received.",
    )
    p.add_argument("--from", dest="source", choices=["mqtt", "lsl"], required=True)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the .npz files")
    p.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT")
    p.add_argument(
        "--types", nargs="+", default=list(DEFAULT_TYPES), help="LSL stream types to record"
    )
    p.add_argument("--flush-s", type=float, default=DEFAULT_FLUSH_S, metavar="S")
    p.add_argument("--rotate-s", type=float, default=DEFAULT_ROTATE_S, metavar="S")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Record until stopped; print the files written."""
    files = asyncio.run(record(args))
    for f in files:
        print(f)
    print(f"recorded {len(files)} file(s) to {args.out}", file=sys.stderr)
    return 0


async def record(args: argparse.Namespace) -> list:
    """The sources of ``args`` into a :class:`SessionRecorder` until stopped."""
    from affectstream.data import canonical_modality
    from affectstream.stream.config import BrokerConfig
    from affectstream.stream.problems import Problems
    from affectstream.stream.recorder import SessionRecorder, record_until

    recorder = SessionRecorder(args.out, flush_s=args.flush_s, rotate_s=args.rotate_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    problems = Problems()
    sources: list = []
    links: list = []
    if args.source == "mqtt":
        from affectstream.stream.mqtt_link import MqttLink
        from affectstream.stream.mqtt_source import MqttSource
        from affectstream.stream.payload import RAW_TOPIC_FILTER

        host, _, port = args.broker.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--broker {args.broker!r}: write HOST:PORT, e.g. 127.0.0.1:1883")
        src = MqttSource([RAW_TOPIC_FILTER], problems)
        sources = [src]
        links = [MqttLink(BrokerConfig(host=host, port=int(port)), src.topics, src.handle)]
    else:
        from affectstream.stream.lsl_markers import LslMarkerSource
        from affectstream.stream.lsl_source import LslSource

        mods = sorted({m for t in args.types if (m := canonical_modality(t))})
        if not mods:
            raise ValueError(f"--types {args.types}: none names a modality (ECG, EDA, BVP, ...)")
        sources = [
            LslSource(mods, problems, types=args.types),
            LslMarkerSource(lambda dev, t, text: recorder.add_marker(t, text, dev)),
        ]

    async def say_ready() -> None:
        for link in links:
            await link.connected.wait()
        where = f"mqtt {args.broker}" if links else f"lsl types {', '.join(args.types)}"
        print(f"recording from {where} to {args.out}; Ctrl-C stops", file=sys.stderr, flush=True)

    ready = asyncio.create_task(say_ready())
    try:
        return await record_until(recorder, sources, stop, args.duration, links)
    finally:
        ready.cancel()
