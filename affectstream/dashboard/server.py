"""The dashboard's web server (aiohttp): the page, its JSON, and server-sent events.

Routes:

- ``GET /``: the page (``static/index.html``, with its script and style from ``/static/``;
  nothing from any other host: the Content-Security-Policy says so to the browser);
- ``GET /events``: a ``text/event-stream``; a ``meta`` event (the model's classes, window,
  threshold, the server's clock), then ``rows`` events, at most one per ``push_interval_s``,
  each with the rows of the devices whose record changed and the arrival times of those whose
  raw data did;
- ``GET /api/state``: the same as JSON at once (all rows);
- ``GET /api/device/{device}``: one device's hour of history, raw signal and last window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from affectstream.dashboard.state import DashboardState

log = logging.getLogger("affectstream.dashboard")

STATIC = Path(__file__).resolve().parent / "static"
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0
#: The page loads only from this server.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)

STATE_KEY: web.AppKey[DashboardState] = web.AppKey("state", DashboardState)
STOP_KEY: web.AppKey[asyncio.Event] = web.AppKey("stop", asyncio.Event)
INTERVAL_KEY: web.AppKey[float] = web.AppKey("push_interval_s", float)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_nan_free)


def _nan_free(obj: Any) -> Any:  # pragma: no cover - only for numpy scalars sneaking in
    return float(obj)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(obj), status=status, content_type="application/json")


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    resp = await handler(request)
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    st = request.app[STATE_KEY]
    return _json({"meta": st.meta(), "rows": st.rows(), "version": st.version})


async def _device(request: web.Request) -> web.Response:
    st = request.app[STATE_KEY]
    dev = request.match_info["device"]
    d = st.detail(dev)
    if d is None:
        return _json({"error": f"no device {dev!r} has been seen; see /api/state"}, status=404)
    return _json(d)


async def _events(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE_KEY]
    stop = request.app[STOP_KEY]
    interval = request.app[INTERVAL_KEY]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    wake = asyncio.Event()
    st.subscribe(wake.set)
    seen = 0
    try:
        await resp.write(f"event: meta\ndata: {_dumps(st.meta())}\n\n".encode())
        while not stop.is_set():
            wake.clear()  # before reading: a change while we write wakes the next round
            if st.version > seen:
                v = st.version
                body = {
                    "rows": st.rows(seen),
                    "seen": st.arrivals(seen),
                    "server_time": round(time.time(), 3),
                    "version": v,
                }
                seen = v
                await resp.write(f"event: rows\ndata: {_dumps(body)}\n\n".encode())
                if interval > 0:  # what arrives meanwhile goes out as one event
                    await asyncio.sleep(interval)
                continue
            waker = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(
                {waker, stopper}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            waker.cancel()
            stopper.cancel()
            if not done:
                await resp.write(b": keep-alive\n\n")
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        st.unsubscribe(wake.set)
    return resp


def make_app(
    state: DashboardState, stop: asyncio.Event | None = None, push_interval_s: float = 0.25
) -> web.Application:
    """The aiohttp application over ``state`` (``stop`` ends its event streams)."""
    app = web.Application(middlewares=[_headers])
    app[STATE_KEY] = state
    app[STOP_KEY] = stop or asyncio.Event()
    app[INTERVAL_KEY] = float(push_interval_s)
    app.router.add_get("/", _index)
    app.router.add_get("/events", _events)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/device/{device}", _device)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app


async def serve(
    state: DashboardState,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    port: int = 8080,
    tasks: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
    push_interval_s: float = 0.25,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the page on ``host:port`` and run ``tasks`` (each ``async fn(stop)``: the feeds)
    until ``stop`` is set.

    Raises
    ------
    OSError
        When the address cannot be bound (the port is taken, the host is not this machine's).
    """
    app = make_app(state, stop, push_interval_s)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "the dashboard listens on %s with no login: anyone who reaches it sees every "
                "device's state",
                host,
            )
        log.info("dashboard at %s", url)
        if on_ready is not None:
            on_ready(url)
        running = [asyncio.create_task(t(stop)) for t in tasks]
        for t in running:
            t.add_done_callback(_report)
        await stop.wait()
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    finally:
        await runner.cleanup()


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dashboard feed stopped: %r", task.exception(), exc_info=task.exception())
