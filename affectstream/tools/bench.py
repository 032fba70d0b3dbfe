"""``affectstream bench``: benchmarks that print a table (or JSON)."""

from __future__ import annotations

import argparse
import json

from affectstream.tools.bench_dsp import format_dsp_table, run_dsp_bench


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="measure speed against the obvious way, in the same process",
        description="Run a benchmark and print a table. dsp: per-hop cost of the incremental "
        "Preprocessor against recomputing a zero-phase filter and resampling over the whole "
        "60 s window every hop.",
    )
    p.add_argument("what", choices=["dsp", "all"], nargs="?", default="all")
    p.add_argument("--hops", type=int, default=300, help="hops measured per scenario")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmarks."""
    res = {"dsp": run_dsp_bench(args.hops)}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(format_dsp_table(res["dsp"]))
    return 0
