"""``affectstream run``: the monitor daemon."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from affectstream.stream.config import ConfigError, load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    p = sub.add_parser(
        "run",
        help="run the monitor daemon from a TOML config",
        description="Subscribe to the configured sources (MQTT, LSL, replay), predict on every "
        "hop with the configured model (default: the bundled one) and publish to the sinks. "
        "SIGINT/SIGTERM stop it cleanly.",
    )
    p.add_argument("--config", required=True, metavar="TOML")
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the config (and load the model) and exit: 0 ok, 2 errors",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, then run until stopped."""
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(args.config)
        if cfg.cluster is not None:  # a cluster worker (issue 24): its section checked now
            from affectstream.cluster.config import parse_cluster

            parse_cluster(cfg.cluster)
        if cfg.needs_broker:
            cfg.broker.credentials()

        if args.check:
            from affectstream.stream.monitor import Monitor

            mon = Monitor(cfg.model, hop_s=cfg.hop_s)
            print(
                f"{args.config}: ok (model {mon.predictor.model_id}; sources "
                f"{[s.kind for s in cfg.sources]}; sinks {[s.kind for s in cfg.sinks]})"
            )
            return 0
    except (ConfigError, ValueError) as exc:
        print(f"affectstream run: config error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(cfg))


async def _serve(cfg) -> int:
    if cfg.cluster is not None:  # one worker of a cluster on NATS JetStream (issue 24)
        from affectstream.cluster.run import serve_worker

        return await serve_worker(cfg)
    from affectstream.stream.daemon import Daemon, install_signal_handlers

    daemon = Daemon(cfg)
    install_signal_handlers(daemon)
    await daemon.run()
    return 0
