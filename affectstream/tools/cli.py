"""Entry point of the ``affectstream`` command: one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from affectstream._version import __version__
from affectstream.data.errors import RecordingFormatError
from affectstream.tools import (
    beats_report,
    bench,
    dashboard_cmd,
    data_info,
    demo,
    evaluate_cmd,
    export_cmd,
    inspect_cmd,
    record_cmd,
    replay_cmd,
    run_cmd,
    simulate_cmd,
    train_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="affectstream",
        description="Real-time emotion monitoring from wearable physiological signals.",
    )
    parser.add_argument("--version", action="version", version=f"affectstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo.register(sub)
    data_info.register(sub)
    beats_report.register(sub)
    bench.register(sub)
    train_cmd.register(sub)
    simulate_cmd.register(sub)
    export_cmd.register(sub)
    inspect_cmd.register(sub)
    evaluate_cmd.register(sub)
    run_cmd.register(sub)
    replay_cmd.register(sub)
    dashboard_cmd.register(sub)
    record_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RecordingFormatError, ValueError, ImportError) as exc:
        print(f"affectstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
