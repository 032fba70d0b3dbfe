"""``affectstream bench``: benchmarks that print a table (or JSON)."""

from __future__ import annotations

import argparse
import json

from affectstream.tools.bench_dsp import format_dsp_table, run_dsp_bench
from affectstream.tools.bench_model import format_model_table, run_model_bench
from affectstream.tools.bench_stream import format_stream_table, run_stream_bench


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="measure speed against the obvious way, in the same process",
        description="Run a benchmark and print a table. dsp: per-hop cost of the incremental "
        "Preprocessor against recomputing a zero-phase filter and resampling over the whole "
        "60 s window every hop. model: LiteRT int8 predict of one window and of a batch. "
        "stream: publish-to-prediction latency over loopback MQTT (needs mosquitto).",
    )
    p.add_argument("what", choices=["dsp", "model", "stream", "all"], nargs="?", default="all")
    p.add_argument("--model", default="default", help="bundle for `model` (default: bundled)")
    p.add_argument("--hops", type=int, default=300, help="hops measured per scenario")
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
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    if "dsp" in res:
        print(format_dsp_table(res["dsp"]))
    if "model" in res:
        print(("\n" if "dsp" in res else "") + format_model_table(res["model"]))
    if "stream" in res:
        print(("\n" if len(res) > 1 else "") + format_stream_table(res["stream"]))
    return 0
