"""``affectstream replay``: publish a recording as a live device would."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from affectstream.data import LabelInterval, Recording
from affectstream.stream.config import BrokerConfig
from affectstream.tools.recording_args import add_recording_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``replay`` subcommand."""
    p = sub.add_parser(
        "replay",
        help="publish a recording over LSL or MQTT, as a live device would",
        description="Publish the recording at PATH as a live device: MQTT messages on "
        "affectstream/<device>/raw/<modality>, or one LSL outlet per modality (type BVP, EDA, "
        "...; source_id <device>/<modality>), at real time, N times faster, or as fast as "
        "possible (--speed 0). An XDF file to LSL re-creates the streams it recorded (names, "
        "types, channel formats and metadata, markers, relative timing).",
    )
    p.add_argument("path", metavar="PATH")
    p.add_argument("--to", choices=["lsl", "mqtt"], required=True)
    p.add_argument("--speed", type=float, default=1.0, help="multiple of real time (0: no waits)")
    p.add_argument("--device", help="device id (default: the subject or recording name)")
    p.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT")
    p.add_argument("--modalities", nargs="+", help="only these modalities")
    add_recording_args(p)
    p.set_defaults(func=run)


def after(rec: Recording, t0: float) -> Recording:
    """``rec`` with every time (signals and labels) moved so that it starts at ``t0`` s."""
    dt = t0 - rec.start_time
    signals = {
        k: dataclasses.replace(
            sig,
            start_time=sig.start_time + dt,
            timestamps=None if sig.timestamps is None else sig.timestamps + dt,
        )
        for k, sig in rec.signals.items()
    }
    labels = [LabelInterval(iv.label, iv.start + dt, iv.end + dt) for iv in rec.labels]
    return dataclasses.replace(rec, signals=signals, labels=labels)


def run(args: argparse.Namespace) -> int:
    """Publish every recording at PATH, one after another (an XDF file to LSL: its streams)."""
    if args.to == "lsl" and args.path.lower().endswith((".xdf", ".xdfz")):
        from affectstream.stream.xdf_replay import publish_xdf_lsl

        n = asyncio.run(publish_xdf_lsl(args.path, args.speed))
        print(f"replayed {args.path}: {n} chunks of its own streams to lsl", file=sys.stderr)
        return 0
    from affectstream.stream.replay_publish import publish_lsl, publish_mqtt

    host, _, port = args.broker.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--broker {args.broker!r}: write HOST:PORT, e.g. 127.0.0.1:1883")
    broker = BrokerConfig(host=host, port=int(port))
    ends: dict[str, float] = {}  # each device's last published time (s)
    for loaded in load_from_args(args.path, args):
        rec = loaded
        device = args.device or rec.subject or rec.name
        if device in ends and rec.start_time < ends[device]:
            # one person's records of a long table each start at 0 s: publish them back to back
            # as one session, or the monitor would drop the later ones as out of order
            rec = after(rec, ends[device])
        ends[device] = rec.end_time
        # a device's own HR/IBI beside a pulse wave or ECG is left out (models read the wave)
        wave = {"bvp", "ecg"} & set(rec.signals)
        mods = args.modalities or [m for m in rec.signals if not (wave and m in ("hr", "ibi"))]
        if args.to == "mqtt":
            n = asyncio.run(publish_mqtt(rec, broker, device, args.speed, mods))
        else:
            n = asyncio.run(publish_lsl(rec, device, args.speed, mods))
        print(
            f"replayed {rec.name} as {device}: {n} chunks of {', '.join(mods)} to {args.to}",
            file=sys.stderr,
        )
    return 0
