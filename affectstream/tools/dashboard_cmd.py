"""``affectstream dashboard``: the live view of every device, served on 127.0.0.1.

This module registers the command only; the web server (aiohttp, the ``dashboard`` extra) is
imported when the command runs, so ``affectstream --help`` and the daemon never load it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from affectstream.stream.config import BrokerConfig, ConfigError, load_config

EXTRA_HINT = "the dashboard needs its extra: pip install 'affectstream[dashboard]'"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` subcommand."""
    p = sub.add_parser(
        "dashboard",
        help="a live web page of every device's prediction, quality and calibration",
        description="Subscribe to affectstream/+/emotion (and affectstream/+/raw/+ for the "
        "signals) and serve a page on http://127.0.0.1:PORT/ with one row per device (label, "
        "probabilities, signal quality, calibration state, seconds since its last data); a "
        "click shows the device's last hour of class probabilities and its last minute of raw "
        "signal. The broker is --broker HOST:PORT, or the [broker] table of the daemon's "
        "--config (TLS and credentials by reference, as the daemon reads them).",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--broker", metavar="HOST:PORT", help="plain MQTT broker (127.0.0.1:1883)")
    where.add_argument("--config", metavar="TOML", help="the daemon's config: its [broker], model")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (8080)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1; anything else exposes the page, with no login)",
    )
    p.add_argument(
        "--model", help="bundle the records come from (default: the config's, else the bundled one)"
    )
    p.add_argument("--no-raw", action="store_true", help="do not subscribe to the raw topics")
    p.add_argument("--username-env", metavar="VAR", help="the dashboard's own MQTT user, from VAR")
    p.add_argument("--password-env", metavar="VAR", help="its password, from environment VAR")
    p.add_argument("--password-file", metavar="FILE", help="its password, from FILE")
    p.add_argument(
        "--push-interval",
        type=float,
        default=0.25,
        metavar="S",
        help="seconds the server gathers changes into one update (0.25)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def broker_from_args(args: argparse.Namespace) -> tuple[BrokerConfig, str]:
    """The broker settings and model the arguments name (``ConfigError`` naming the flag)."""
    model = "default"
    if args.config:
        cfg = load_config(args.config)
        broker, model = cfg.broker, cfg.model
    else:
        spec = args.broker or "127.0.0.1:1883"
        host, _, port = spec.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--broker {spec!r}: write HOST:PORT, e.g. 127.0.0.1:1883")
        broker = BrokerConfig(host=host, port=int(port))
    for flag in ("username_env", "password_env", "password_file"):
        value = getattr(args, flag)
        if value:
            setattr(broker, flag, value)
    if args.password_env:
        broker.password_file = ""
    broker.credentials()  # fail now, naming the variable or file, not at the first connect
    return broker, args.model or model


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        broker, model = broker_from_args(args)
    except ConfigError as exc:
        print(f"affectstream dashboard: config error: {exc}", file=sys.stderr)
        return 2
    if args.push_interval < 0:
        print("affectstream dashboard: --push-interval must be >= 0 s", file=sys.stderr)
        return 2
    try:
        from affectstream.dashboard.model_info import model_info
        from affectstream.dashboard.mqtt_feed import MqttFeed, dashboard_broker
        from affectstream.dashboard.server import serve
        from affectstream.dashboard.state import DashboardState
    except ImportError as exc:
        raise ImportError(f"{EXTRA_HINT} ({exc})") from None
    state = DashboardState(model_info(model))
    feed = MqttFeed(dashboard_broker(broker), state, raw=not args.no_raw)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            state,
            stop,
            host=args.host,
            port=args.port,
            tasks=[feed.run],
            push_interval_s=args.push_interval,
            on_ready=lambda url: print(
                f"affectstream dashboard: {url} (broker {broker.host}:{broker.port})", flush=True
            ),
        )

    try:
        asyncio.run(main())
    except OSError as exc:
        print(
            f"affectstream dashboard: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 2
    return 0
