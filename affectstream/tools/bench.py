"""``affectstream bench``: benchmarks that print a table (or JSON)."""

from __future__ import annotations

import argparse
import json

from affectstream.tools.bench_cluster import format_cluster_table, run_cluster_bench
from affectstream.tools.bench_dashboard import format_dashboard_table, run_dashboard_bench
from affectstream.tools.bench_dsp import format_dsp_table, run_dsp_bench
from affectstream.tools.bench_lsl import format_lsl_table, run_lsl_bench
from affectstream.tools.bench_model import format_model_table, run_model_bench
from affectstream.tools.bench_scale import format_scale_table, run_scale_bench
from affectstream.tools.bench_soak import SoakPlan, format_soak_table, run_soak_bench
from affectstream.tools.bench_stream import format_stream_table, run_stream_bench


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="measure speed against the obvious way, in the same process",
        description="Run a benchmark and print a table. dsp: per-hop cost of the incremental "
        "Preprocessor against recomputing a zero-phase filter and resampling over the whole "
        "60 s window every hop. model: LiteRT int8 predict of one window and of a batch. "
        "stream: publish-to-prediction latency over loopback MQTT (needs mosquitto). scale: "
        "devices per core against the obvious way, memory per device, replay speed. soak "
        "(not in `all`; minutes): simulated hours of a daemon with device churn, broker "
        "restarts and a daemon restart; memory over time, predictions made vs received. "
        "dashboard: the live page with 1, 10 and 100 devices (needs mosquitto; headless "
        "Chromium and selenium for the page's figures; not part of all). cluster (not in "
        "all; the cluster extra and mosquitto): devices over MQTT into NATS JetStream served "
        "by 1, 2 and 3 cluster workers against the plain daemon: CPU per device-hop, devices "
        "per core, end-to-end p99, RAW's ingest rate.",
    )
    p.add_argument(
        "what",
        choices=["dsp", "model", "stream", "scale", "lsl", "soak", "dashboard", "cluster", "all"],
        nargs="?",
        default="all",
    )
    p.add_argument("--model", default="default", help="bundle for `model` (default: bundled)")
    p.add_argument("--hops", type=int, default=300, help="hops measured per scenario")
    p.add_argument(
        "--devices",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="device counts for `scale` (the first and last give memory per device)",
    )
    p.add_argument(
        "--hop-s",
        type=float,
        metavar="S",
        help="hop for `scale` in whole seconds (default: the model's default hop)",
    )
    p.add_argument(
        "--replay",
        metavar="PATH",
        help="recording for the `scale` replay figure (default: a synthetic E4-like hour)",
    )
    p.add_argument("--lsl-devices", type=int, default=30, help="devices for `lsl` (30)")
    p.add_argument("--lsl-seconds", type=float, default=20.0, help="seconds measured for `lsl`")
    p.add_argument("--soak-devices", type=int, default=100, help="devices at a time for `soak`")
    p.add_argument("--sim-hours", type=float, default=2.0, help="simulated hours for `soak`")
    p.add_argument(
        "--speed", type=float, default=40.0, help="simulated seconds per wall second for `soak`"
    )
    p.add_argument(
        "--dashboard-devices",
        type=int,
        nargs="+",
        default=[1, 10, 100],
        help="device counts for `dashboard` (1 10 100)",
    )
    p.add_argument(
        "--dashboard-seconds", type=float, default=10.0, help="seconds measured per count (10)"
    )
    p.add_argument("--cluster-devices", type=int, default=30, help="devices for `cluster` (30)")
    p.add_argument(
        "--cluster-speed", type=float, default=5.0, help="times real time for `cluster` (5)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmarks."""
    res = {}
    if args.what in ("dsp", "all"):
        res["dsp"] = run_dsp_bench(args.hops)
    if args.what in ("model", "all"):
        res["model"] = run_model_bench(args.model, repeats=max(args.hops, 50))
    if args.what in ("stream", "all"):
        res["stream"] = run_stream_bench(hops=args.hops, model=args.model)
    if args.what in ("scale", "all"):
        res["scale"] = run_scale_bench(
            tuple(args.devices),
            hops=min(args.hops, 30),
            model=args.model,
            replay_path=args.replay,
            hop_s=args.hop_s,
        )
    if args.what in ("lsl", "all"):
        res["lsl"] = run_lsl_bench(n=args.lsl_devices, seconds=args.lsl_seconds)
    if args.what == "soak":
        res["soak"] = run_soak_bench(
            SoakPlan(
                devices=args.soak_devices,
                sim_hours=args.sim_hours,
                speed=args.speed,
                model=args.model,
            )
        )
    if args.what == "dashboard":
        res["dashboard"] = run_dashboard_bench(
            tuple(args.dashboard_devices), seconds=args.dashboard_seconds
        )
    if args.what == "cluster":
        res["cluster"] = run_cluster_bench(devices=args.cluster_devices, speed=args.cluster_speed)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    if "dsp" in res:
        print(format_dsp_table(res["dsp"]))
    if "model" in res:
        print(("\n" if "dsp" in res else "") + format_model_table(res["model"]))
    if "stream" in res:
        print(("\n" if len(res) > 1 else "") + format_stream_table(res["stream"]))
    if "scale" in res:
        print(("\n" if len(res) > 1 else "") + format_scale_table(res["scale"]))
    if "lsl" in res:
        print(("\n" if len(res) > 1 else "") + format_lsl_table(res["lsl"]))
    if "soak" in res:
        print(format_soak_table(res["soak"]))
    if "dashboard" in res:
        print(format_dashboard_table(res["dashboard"]))
    if "cluster" in res:
        print(format_cluster_table(res["cluster"]))
    return 0
