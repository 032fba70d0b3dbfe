"""The monitor daemon: sources -> one chunk validator -> bounded queue -> Monitor -> sinks,
with counters and a clean shutdown. Bad input is logged and counted; the daemon keeps running.

The daemon only wires things: every source (:mod:`~affectstream.stream.mqtt_source`,
:mod:`~affectstream.stream.lsl_source`, :mod:`~affectstream.stream.replay_source`) implements
:class:`~affectstream.stream.source.Source` and hands its chunks to :meth:`Daemon.emit`, which
runs them through the same :class:`~affectstream.stream.validate.ChunkValidator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from typing import Any

from affectstream.model.predictor import Predictor
from affectstream.stream.config import (
    DaemonConfig,
    JsonlSinkConfig,
    LslSinkConfig,
    LslSourceConfig,
    MqttSinkConfig,
    MqttSourceConfig,
    ReplaySourceConfig,
)
from affectstream.stream.device_store import DeviceStore
from affectstream.stream.events import ChunkEvent
from affectstream.stream.heap import trim_heap
from affectstream.stream.lsl_source import LslSource
from affectstream.stream.monitor import DeviceLimitError, Monitor
from affectstream.stream.mqtt_link import MqttLink
from affectstream.stream.mqtt_source import MqttSource
from affectstream.stream.problems import OTHER_DEVICES, Problems
from affectstream.stream.replay_source import ReplaySource
from affectstream.stream.sinks import CallbackSink, JsonLinesSink, LslSink, MqttSink, Sink
from affectstream.stream.source import Source
from affectstream.stream.validate import MAX_CLOCK_JUMP_S, ChunkValidator

log = logging.getLogger("affectstream.daemon")

#: Longest wait (seconds) at shutdown for the MQTT link to hand on what it had acknowledged,
#: and for it to disconnect.
STOP_INPUT_TIMEOUT_S = 10.0


class Daemon:
    """Runs the configured sources and sinks around a :class:`Monitor`.

    Parameters
    ----------
    config
        A validated :class:`DaemonConfig`.
    extra_sinks
        More sinks (e.g. a :class:`CallbackSink` from Python).
    """

    def __init__(self, config: DaemonConfig, extra_sinks: list[Sink] | None = None) -> None:
        self.config = config
        predictor = Predictor(config.model)
        state_dir = config.resolved_state_dir()
        #: where device states are saved and restored from (None: ``state_dir = "none"``)
        self.store = None if state_dir is None else DeviceStore(state_dir, predictor.model_id)
        self.monitor = Monitor(
            predictor,
            hop_s=config.hop_s,
            max_missing=config.max_missing,
            warmup_every_s=config.calibrating_every_s or None,
            max_devices=config.max_devices,
            store=self.store,
            resume_within_s=config.resume_within_s,
        )
        self.problems = Problems()
        self.counters: Counter[str] = self.problems.counters
        pre = self.monitor.predictor.metadata["preprocess"]["modalities"]
        self.validator = ChunkValidator(
            {m["name"]: float(m["fs"]) for m in pre},
            {m["name"]: len(m.get("channels") or [m["name"]]) for m in pre},
            self.problems,
        )
        self.queue: asyncio.Queue[ChunkEvent] = asyncio.Queue(maxsize=config.queue_size)
        self.stop = asyncio.Event()
        self.sinks: list[Sink] = list(extra_sinks or [])
        self.mqtt: MqttLink | None = None
        self.sources: list[Source] = []
        self._clock: dict[str, str] = {}
        self.started = time.monotonic()

    # ---- input ---------------------------------------------------------------------------
    async def emit(self, ev: ChunkEvent) -> bool:
        """Validate a source's chunk and queue it (a replay's waits for room; a live one is
        dropped and counted when the queue is full). False when refused or dropped."""
        if not self.monitor.admits(ev.device):
            self._refuse(ev.device)
            return False
        ok = self.validator.check(ev)
        if ok is None:
            return False
        if not ok.live:
            while self.queue.full():
                await asyncio.sleep(0.001)
        return self.offer(ok)

    def offer(self, ev: ChunkEvent) -> bool:
        """Queue a validated chunk; when the queue is full it is dropped and counted."""
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.counters["samples_dropped_queue_full"] += len(ev.samples)
            return False
        return True

    def _refuse(self, device: str) -> None:
        """Count and log (rate-limited, under one entry) a new device beyond ``max_devices``."""
        self.problems.bad(
            "devices_refused",
            OTHER_DEVICES,
            f"device {device!r} refused: {len(self.monitor.devices)} devices are held, the "
            f"limit (max_devices = {self.config.max_devices}); idle ones leave after "
            f"idle_timeout_s = {self.config.idle_timeout_s:g} s",
        )

    # ---- processing ----------------------------------------------------------------------
    async def _process(self) -> None:
        while True:
            ev = await self.queue.get()
            try:
                recs = self.monitor.push(
                    ev.device,
                    ev.modality,
                    ev.samples,
                    start_time=ev.start_time,
                    timestamps=ev.timestamps,
                    received=ev.received or None,
                )
                self._clock[ev.device] = ev.clock
            except DeviceLimitError:
                self._refuse(ev.device)
                self.validator.forget(ev.device)
                recs = []
            except ValueError as exc:
                self.problems.bad("bad_chunks", ev.device, f"{ev.device}/{ev.modality}: {exc}")
                recs = []
            for r in recs:
                r["clock"] = self._clock.get(r["device"], ev.clock)
                if "warmup_left_s" in r:
                    self.counters["calibrating_out"] += 1
                else:
                    self.counters["predictions_out"] += 1
                for s in self.sinks:
                    try:
                        await s.emit(r)
                    except Exception as exc:  # noqa: BLE001 - a sink must not stop the daemon
                        self.problems.bad("sink_errors", r["device"], f"{type(s).__name__}: {exc}")
            self.queue.task_done()

    # ---- device table: eviction and saved states ------------------------------------------
    async def _housekeeping(self) -> None:
        """Every few seconds: evict idle devices (saving them); every ``state_save_s``: save
        the devices whose state changed and give freed heap memory back to the OS."""
        cfg = self.config
        tick = max(0.05, min(cfg.state_save_s, cfg.idle_timeout_s / 4, 10.0))
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            self.evict_idle()
            if time.monotonic() - last_save >= cfg.state_save_s:
                last_save = time.monotonic()
                await self.save_states()
                trim_heap()  # what a backlog or evicted devices freed goes back to the OS

    def evict_idle(self) -> list[str]:
        """Save and drop the devices idle for more than ``idle_timeout_s``; returns them."""
        gone = self.monitor.evict_idle(self.config.idle_timeout_s)
        for dev in gone:
            self.validator.forget(dev)
            self.problems.forget(dev)
            self._clock.pop(dev, None)
        if gone:
            self.counters["devices_evicted"] += len(gone)
            log.info("evicted %d idle device(s): %s", len(gone), ", ".join(gone[:10]))
        return gone

    async def save_states(self, changed_only: bool = True) -> int:
        """Write the states of the devices that changed since their last save (all with
        ``changed_only`` False); the files are written in a worker thread. Returns how many."""
        store = self.store
        if store is None:
            return 0
        snaps = self.monitor.snapshot(changed_only=changed_only)
        if not snaps:
            return 0

        def write() -> int:
            failed = 0
            for dev, state, last in snaps:
                try:
                    store.save(dev, state, last)
                except OSError as exc:
                    failed += 1
                    log.error("cannot save device %s's state in %s: %s", dev, store.directory, exc)
            return failed

        failed = await asyncio.to_thread(write)
        self.counters["states_saved"] += len(snaps) - failed
        self.counters["state_save_errors"] += failed
        return len(snaps) - failed

    def stats(self) -> dict[str, Any]:
        """Counters for logs and tests."""
        lag = {
            d: round(time.monotonic() - st.last_data, 3) for d, st in self.monitor.devices.items()
        }
        out: dict[str, Any] = dict(self.counters)
        out["devices"] = len(self.monitor.devices)
        out["devices_restored"] = self.monitor.restored
        if self.store is not None and self.store.ignored:
            out["states_ignored"] = self.store.ignored
        out["queue"] = self.queue.qsize()
        out["seconds_since_data"] = lag
        if self.problems.by_device:
            out["bad_by_device"] = {d: dict(c) for d, c in self.problems.by_device.items()}
        if self.mqtt is not None:
            out["mqtt"] = dict(self.mqtt.counters)
        for src in self.sources:
            if isinstance(src, LslSource):
                out["lsl_lag_s"] = {**out.get("lsl_lag_s", {}), **src.lag()}
        return out

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_interval_s)
            log.info("stats %s", self.stats())

    # ---- lifecycle -----------------------------------------------------------------------
    def _make_sources(self) -> None:
        cfg = self.config
        mods = self.monitor.modalities
        topics = [s.topic for s in cfg.sources if isinstance(s, MqttSourceConfig)]
        if topics:
            self.sources.append(MqttSource(topics, self.problems))
        for s in cfg.sources:
            if isinstance(s, LslSourceConfig):
                self.sources.append(
                    LslSource(
                        mods,
                        self.problems,
                        types=s.types,
                        max_buflen_s=s.max_buflen_s,
                        names=s.names,
                        source_ids=s.source_ids,
                    )
                )
            elif isinstance(s, ReplaySourceConfig):
                self.sources.append(ReplaySource(s.path, mods, s.speed, s.device))

    def _make_sinks(self) -> None:
        for s in self.config.sinks:
            if isinstance(s, JsonlSinkConfig):
                self.sinks.append(JsonLinesSink(s.path))
            elif isinstance(s, MqttSinkConfig):
                if self.mqtt is None:
                    raise RuntimeError("an MQTT sink needs the broker link; start it first")
                self.sinks.append(MqttSink(self.mqtt.publish, s.qos))
            elif isinstance(s, LslSinkConfig):
                self.sinks.append(LslSink(self.monitor.predictor.classes, s.name))

    async def run(self) -> None:
        """Run until :attr:`stop` is set, then drain the queue, flush sinks and disconnect."""
        cfg = self.config
        self._make_sources()
        mqtt_src = next((s for s in self.sources if isinstance(s, MqttSource)), None)
        tasks: list[asyncio.Task[Any]] = []
        if cfg.needs_broker:
            self.mqtt = MqttLink(
                cfg.broker,
                mqtt_src.topics if mqtt_src is not None else [],
                mqtt_src.handle if mqtt_src is not None else None,
                spool_dir=cfg.resolved_spool_dir(),
            )
            link = self.mqtt.run(self.stop, hold=True)
            tasks.append(asyncio.create_task(link, name="mqtt"))
        self._make_sinks()
        for src in self.sources:
            name = type(src).__name__
            tasks.append(asyncio.create_task(src.run(self.stop, self.emit), name=name))
        for t in tasks:
            t.add_done_callback(self._task_done)
        worker = asyncio.create_task(self._process(), name="process")
        worker.add_done_callback(self._task_done)
        stats = asyncio.create_task(self._log_stats(), name="stats")
        house = asyncio.create_task(self._housekeeping(), name="housekeeping")
        house.add_done_callback(self._task_done)
        log.info(
            "running model %s; sources %s; sinks %s",
            self.monitor.predictor.model_id,
            [s.kind for s in cfg.sources],
            [s.kind for s in cfg.sinks],
        )
        await self.stop.wait()
        await self._shut_down(tasks, [worker, stats, house])
        await asyncio.gather(*tasks, worker, stats, house, return_exceptions=True)
        for s in self.sinks:
            await s.close()
        log.info("stopped; stats %s", self.stats())

    async def _shut_down(
        self, tasks: list[asyncio.Task[Any]], workers: list[asyncio.Task[Any]]
    ) -> None:
        """Stop taking input, predict what was taken, save the states, deliver the records.

        Nothing the daemon has acknowledged is dropped: the MQTT link first hands on the
        messages it had acknowledged to the broker (and takes no more: the broker keeps those for
        a persistent session), the queue is drained while the connection stays up, and the
        spool is delivered before it closes (or kept on disk for the next start).
        """
        link = self.mqtt
        for t in tasks:
            if t.get_name() not in ("mqtt", "MqttSource"):
                t.cancel()
        if link is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.input_closed.wait(), STOP_INPUT_TIMEOUT_S)
        for t in tasks:
            if t.get_name() == "MqttSource":
                t.cancel()
        log.info("stopping: draining %d queued chunks", self.queue.qsize())
        await self.queue.join()
        for t in workers:
            t.cancel()
        saved = await self.save_states()
        if self.store is not None:
            log.info("saved %d device state(s) in %s", saved, self.store.directory)
        if link is not None:
            await link.close()
            for t in tasks:
                if t.get_name() == "mqtt":
                    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(asyncio.shield(t), STOP_INPUT_TIMEOUT_S)
                    t.cancel()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.counters["task_failures"] += 1
            log.error(
                "%s stopped with an error: %r",
                task.get_name(),
                task.exception(),
                exc_info=task.exception(),
            )


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGINT and SIGTERM set the daemon's stop event (clean shutdown)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop.set)


__all__ = ["MAX_CLOCK_JUMP_S", "CallbackSink", "ChunkEvent", "Daemon", "install_signal_handlers"]
