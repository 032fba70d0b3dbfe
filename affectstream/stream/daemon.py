"""The monitor daemon: sources -> bounded queue -> Monitor -> sinks, with counters and a clean
shutdown. Bad input is logged and counted; the daemon keeps running."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectstream.stream.config import DaemonConfig
from affectstream.stream.monitor import Monitor
from affectstream.stream.payload import PayloadError, decode_chunk
from affectstream.stream.sinks import CallbackSink, JsonLinesSink, LslSink, MqttSink, Sink

log = logging.getLogger("affectstream.daemon")

#: A chunk starting further than this from where the previous one ended (seconds) is counted as
#: a clock jump; the DSP re-anchors on it and the frames in between are missing.
MAX_CLOCK_JUMP_S = 10.0


@dataclass
class ChunkEvent:
    """One chunk of one device's modality, as a source hands it to the monitor."""

    device: str
    modality: str
    samples: np.ndarray
    start_time: float | None = None
    timestamps: np.ndarray | None = None
    received: float = 0.0


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
        self.monitor = Monitor(config.model, hop_s=config.hop_s, max_missing=config.max_missing)
        self.counters: Counter[str] = Counter()
        self.queue: asyncio.Queue[ChunkEvent] = asyncio.Queue(maxsize=config.queue_size)
        self.stop = asyncio.Event()
        self.sinks: list[Sink] = list(extra_sinks or [])
        self._seq: dict[tuple[str, str], tuple[int, float]] = {}
        self._next_t0: dict[tuple[str, str], float] = {}
        self._rates = {m: self.monitor.expected_rate(m) for m in self.monitor.modalities}
        self.mqtt = None
        self._lsl_sources: list[Any] = []
        self._warned: Counter[str] = Counter()
        self.started = time.monotonic()

    # ---- input ---------------------------------------------------------------------------
    def offer(self, ev: ChunkEvent) -> None:
        """Queue a chunk; when the queue is full the chunk is dropped and counted."""
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.counters["samples_dropped_queue_full"] += len(ev.samples)

    def _bad(self, kind: str, msg: str) -> None:
        self.counters[kind] += 1
        self._warned[kind] += 1
        if self._warned[kind] <= 5 or self._warned[kind] % 1000 == 0:
            log.warning("%s (%s #%d)", msg, kind, self.counters[kind])

    def on_mqtt_message(self, topic: str, payload: bytes) -> None:
        """Decode, validate and queue one raw MQTT message."""
        recv = time.perf_counter()
        try:
            ch = decode_chunk(topic, payload)
        except PayloadError as exc:
            self._bad("bad_payloads", f"{topic}: {exc}")
            return
        if ch.modality not in self._rates:
            self._bad("unknown_modality", f"{topic}: the model does not use {ch.modality!r}")
            return
        want = self._rates[ch.modality]
        if abs(ch.fs - want) > 1e-6 * want:
            self._bad(
                "wrong_rate",
                f"{topic}: {ch.modality.upper()} stream is {ch.fs:g} Hz; the "
                f"model expects {want:g} Hz",
            )
            return
        key = (ch.device, ch.modality)
        last = self._seq.get(key)
        if last is not None:
            last_seq, last_t0 = last
            if ch.seq <= last_seq:
                if ch.t0 <= last_t0:
                    self._bad(
                        "out_of_order",
                        f"{topic}: seq {ch.seq} at t0 {ch.t0} after seq "
                        f"{last_seq} at {last_t0}; dropped",
                    )
                    return
                self.counters["seq_restarts"] += 1  # the device restarted its numbering
                log.info("%s: sequence restarted at %d (device restart?)", topic, ch.seq)
            elif ch.seq > last_seq + 1:
                self._bad("gaps", f"{topic}: seq jumped from {last_seq} to {ch.seq}")
        self._seq[key] = (ch.seq, ch.t0)
        expected = self._next_t0.get(key)
        if expected is not None and abs(ch.t0 - expected) > MAX_CLOCK_JUMP_S:
            self._bad(
                "time_jumps",
                f"{topic}: t0 {ch.t0:.3f} is {ch.t0 - expected:+.1f} s from "
                "where the previous chunk ended",
            )
        self._next_t0[key] = ch.t0 + len(ch.samples) / ch.fs
        bad = int(np.count_nonzero(~np.isfinite(ch.samples)))
        if bad:
            self.counters["nonfinite_samples"] += bad  # kept as missing data, not an error
        self.counters["samples_in"] += len(ch.samples)
        self.offer(ChunkEvent(ch.device, ch.modality, ch.samples, ch.t0, None, recv))

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
            except ValueError as exc:
                self._bad("bad_chunks", f"{ev.device}/{ev.modality}: {exc}")
                recs = []
            for r in recs:
                self.counters["predictions_out"] += 1
                for s in self.sinks:
                    try:
                        await s.emit(r)
                    except Exception as exc:  # noqa: BLE001 - a sink must not stop the daemon
                        self._bad("sink_errors", f"{type(s).__name__}: {exc}")
            self.queue.task_done()

    def stats(self) -> dict[str, Any]:
        """Counters for logs and tests."""
        lag = {
            d: round(time.monotonic() - st.last_data, 3) for d, st in self.monitor.devices.items()
        }
        out: dict[str, Any] = dict(self.counters)
        out["devices"] = len(self.monitor.devices)
        out["queue"] = self.queue.qsize()
        out["seconds_since_data"] = lag
        if self.mqtt is not None:
            out["mqtt"] = dict(self.mqtt.counters)
        for src in self._lsl_sources:
            out["lsl_lag_s"] = {**out.get("lsl_lag_s", {}), **src.lag()}
        return out

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_interval_s)
            log.info("stats %s", self.stats())

    # ---- lifecycle -----------------------------------------------------------------------
    def _make_sinks(self) -> None:
        for s in self.config.sinks:
            if s["kind"] == "jsonl":
                self.sinks.append(JsonLinesSink(s["path"]))
            elif s["kind"] == "mqtt":
                assert self.mqtt is not None
                self.sinks.append(MqttSink(self.mqtt.publish, s["qos"]))
            elif s["kind"] == "lsl":
                self.sinks.append(LslSink(self.monitor.predictor.classes, s["name"]))

    async def run(self) -> None:
        """Run until :attr:`stop` is set, then drain the queue, flush sinks and disconnect."""
        from affectstream.stream.mqtt_link import MqttLink

        cfg = self.config
        tasks: list[asyncio.Task[Any]] = []
        if cfg.needs_broker:
            topics = [s["topic"] for s in cfg.sources if s["kind"] == "mqtt"]
            self.mqtt = MqttLink(
                cfg.broker, topics, self.on_mqtt_message, spool_dir=cfg.resolved_spool_dir()
            )
            tasks.append(asyncio.create_task(self.mqtt.run(self.stop), name="mqtt"))
        self._make_sinks()
        for s in cfg.sources:
            if s["kind"] == "lsl":
                from affectstream.stream.lsl_source import LslSource

                src = LslSource(
                    self,
                    types=s["types"],
                    max_buflen_s=s.get("max_buflen_s", 30),
                    names=s.get("names"),
                    source_ids=s.get("source_ids"),
                )
                self._lsl_sources.append(src)
                tasks.append(asyncio.create_task(src.run(self.stop), name="lsl"))
            elif s["kind"] == "replay":
                tasks.append(asyncio.create_task(self._replay(s), name="replay"))
        for t in tasks:
            t.add_done_callback(self._task_done)
        worker = asyncio.create_task(self._process(), name="process")
        worker.add_done_callback(self._task_done)
        stats = asyncio.create_task(self._log_stats(), name="stats")
        log.info(
            "running model %s; sources %s; sinks %s",
            self.monitor.predictor.model_id,
            [s["kind"] for s in cfg.sources],
            [s["kind"] for s in cfg.sinks],
        )
        await self.stop.wait()
        log.info("stopping: draining %d queued chunks", self.queue.qsize())
        for t in tasks:
            if t.get_name() not in ("mqtt",):
                t.cancel()
        await self.queue.join()
        worker.cancel()
        stats.cancel()
        if self.mqtt is not None:
            await self.mqtt.close()
        for t in tasks:
            if t.get_name() == "mqtt":
                t.cancel()
        await asyncio.gather(*tasks, worker, stats, return_exceptions=True)
        for s in self.sinks:
            await s.close()
        log.info("stopped; stats %s", self.stats())

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.counters["task_failures"] += 1
            log.error(
                "%s stopped with an error: %r",
                task.get_name(),
                task.exception(),
                exc_info=task.exception(),
            )

    async def _replay(self, spec: dict[str, Any]) -> None:
        from affectstream.data import load_recordings
        from affectstream.stream.replay import replay_chunks

        for rec in load_recordings(spec["path"]):
            device = spec.get("device") or rec.subject or rec.name
            wall0 = time.perf_counter()
            for ch in replay_chunks(rec, self.monitor.modalities):
                if spec["speed"] > 0:
                    lag = ch.t_end / spec["speed"] - (time.perf_counter() - wall0)
                    if lag > 0:
                        await asyncio.sleep(lag)
                while self.queue.full():
                    await asyncio.sleep(0.001)
                self.offer(
                    ChunkEvent(
                        device, ch.modality, ch.samples, ch.start_time, None, time.perf_counter()
                    )
                )
                self.counters["samples_in"] += len(ch.samples)
                if spec["speed"] == 0:
                    await asyncio.sleep(0)


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGINT and SIGTERM set the daemon's stop event (clean shutdown)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop.set)


__all__ = ["CallbackSink", "ChunkEvent", "Daemon", "install_signal_handlers"]
