"""One worker of a cluster: ``affectstream run`` with a ``[cluster]`` section.

The worker announces itself in the members bucket (a heartbeat well inside the bucket's TTL),
owns the partitions the rendezvous hash gives it over the live members
(:func:`~affectstream.cluster.partitions.assignment`), pulls each through its durable consumer
in the pinned priority group (one reader per partition at a time), serves the devices found
there with the usual :class:`~affectstream.stream.monitor.Monitor`, publishes every record to
EMOTION once (:class:`~affectstream.cluster.emotion.EmotionPublisher`) and acknowledges a raw
message only after its records are published or spooled.

A device seen for the first time is restored from the states bucket and its raw messages since
the saved mark (:mod:`~affectstream.cluster.handover`); a partition that goes to another
worker is let go after its devices are saved, and its pin released. Raw messages are applied
in JetStream order per topic, each once: a redelivered one (a stream sequence its topic went
past) is acknowledged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from typing import Any, TypeVar

from affectstream.cluster.config import ClusterConfig, parse_cluster
from affectstream.cluster.emotion import EmotionPublisher
from affectstream.cluster.handover import DeviceMarks, Rebuild, handover_doc
from affectstream.cluster.jetstream import (
    PinnedPuller,
    emotion_stream_config,
    ensure_consumers,
    ensure_stream,
    raw_stream_config,
    replay,
    stream_seq,
    unpin,
)
from affectstream.cluster.kv_store import KvDeviceStore, StateConflict
from affectstream.cluster.partitions import assignment, parse_raw_subject
from affectstream.model.predictor import Predictor
from affectstream.stream.config import DaemonConfig
from affectstream.stream.device_ids import device_id_problem
from affectstream.stream.device_store import to_json
from affectstream.stream.events import ChunkEvent
from affectstream.stream.monitor import Monitor
from affectstream.stream.mqtt_source import chunk_event
from affectstream.stream.payload import PayloadError, decode_chunk, raw_topic
from affectstream.stream.problems import Problems
from affectstream.stream.validate import ChunkValidator

_T = TypeVar("_T")
log = logging.getLogger("affectstream.cluster")


def _t0(data: bytes) -> float | None:
    """The ``t0`` (s) of a raw payload, or None."""
    try:
        t0 = json.loads(data).get("t0")
    except (ValueError, AttributeError):
        return None
    return float(t0) if isinstance(t0, int | float) and not isinstance(t0, bool) else None


def spool_dir(config: DaemonConfig, name: str) -> str | None:
    """The outbox folder: the config's ``spool_dir``, or with ``auto`` one per worker name
    under ``$XDG_STATE_HOME/affectstream/spool`` (``memory``: None)."""
    if config.spool_dir == "memory":
        return None
    if config.spool_dir != "auto":
        return config.spool_dir
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "affectstream", "spool", f"nats_{name}")


class ClusterWorker:
    """Runs one worker until :attr:`stop` is set (then saves its devices and leaves).

    Parameters
    ----------
    config
        A daemon config with a ``cluster`` section.

    Raises
    ------
    ConfigError
        For a ``[cluster]`` table that does not validate.
    """

    def __init__(self, config: DaemonConfig) -> None:
        if config.cluster is None:
            raise ValueError("a cluster worker needs a [cluster] section in its config")
        self.config = config
        self.cc: ClusterConfig = parse_cluster(config.cluster)
        self.name = self.cc.worker_name()
        self.predictor = Predictor(config.model)
        self.monitor = Monitor(
            self.predictor,
            hop_s=config.hop_s,
            max_missing=config.max_missing,
            warmup_every_s=config.calibrating_every_s or None,
            max_devices=config.max_devices,
        )
        self.problems = Problems()
        self.counters: Counter[str] = self.problems.counters
        pre = self.predictor.metadata["preprocess"]["modalities"]
        self.validator = ChunkValidator(
            {m["name"]: float(m["fs"]) for m in pre},
            {m["name"]: len(m.get("channels") or [m["name"]]) for m in pre},
            self.problems,
        )
        self.stop = asyncio.Event()
        self.owned: set[int] = set()
        self.members: list[str] = []
        self.applied: dict[str, int] = {}  #: device -> last raw stream sequence absorbed
        self.partition_of: dict[str, int] = {}
        self.marks: dict[str, DeviceMarks] = {}
        self._pullers: dict[int, asyncio.Task[None]] = {}
        self._members_changed = asyncio.Event()
        #: devices whose stored state another worker wrote: rebuilt at their next message
        self._stale: set[str] = set()
        #: (device, modality) -> ``seq`` of the last chunk applied, and its end time (s)
        self._topic_seq: dict[tuple[str, str], tuple[int, float | None]] = {}
        #: (device, modality) -> raw stream sequence of the last message absorbed on the topic
        self._topic_raw: dict[tuple[str, str], int] = {}
        #: device -> raw stream sequence up to which its take-over absorbed (or, for a new
        #: session, passed over) every one of its messages
        self._base: dict[str, int] = {}
        self.nc: Any = None
        self.js: Any = None
        self.store: KvDeviceStore | None = None
        self.members_kv: Any = None
        self.publisher: EmotionPublisher | None = None

    # ---- connection and layout --------------------------------------------------------------
    async def connect(self) -> None:
        """Connect, make the streams, buckets and consumers that are missing."""
        import nats
        from nats.js.api import KeyValueConfig, StorageType

        cc = self.cc
        opts: dict[str, Any] = {
            "servers": [u.strip() for u in cc.url.split(",")],
            "name": f"affectstream-{self.name}",
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "connect_timeout": 5,
        }
        if cc.creds_file:
            opts["user_credentials"] = cc.creds_file
        self.nc = await nats.connect(**opts)
        self.js = self.nc.jetstream(timeout=5)
        await ensure_stream(self.nc, raw_stream_config(cc))
        await ensure_stream(self.nc, emotion_stream_config(cc))
        await ensure_consumers(self.nc, cc)
        self.members_kv = await self._bucket(
            KeyValueConfig(
                bucket=cc.members_bucket,
                ttl=cc.member_ttl_s,
                storage=StorageType.FILE,
                replicas=cc.replicas,
            )
        )
        states = await self._bucket(
            KeyValueConfig(
                bucket=cc.states_bucket, history=1, storage=StorageType.FILE, replicas=cc.replicas
            )
        )
        self.store = KvDeviceStore(states, self.predictor.model_id)
        self.publisher = EmotionPublisher(
            self.js, cc.emotion_stream, spool_dir(self.config, self.name)
        )
        log.info("worker %s connected to nats %s (P = %d)", self.name, cc.url, cc.partitions)

    async def _bucket(self, cfg: Any) -> Any:
        import nats.js.errors

        try:
            return await self.js.key_value(cfg.bucket)
        except nats.js.errors.BucketNotFoundError:
            try:
                return await self.js.create_key_value(cfg)
            except nats.js.errors.APIError:  # made by another worker meanwhile
                return await self.js.key_value(cfg.bucket)

    # ---- membership and partitions ---------------------------------------------------------
    async def _heartbeat(self) -> None:
        import nats.js.errors

        while True:
            try:
                doc = {
                    "pid": os.getpid(),
                    "unix": time.time(),
                    "devices": len(self.monitor.devices),
                }
                await self.members_kv.put(self.name, json.dumps(doc).encode())
                try:
                    live = sorted(await self.members_kv.keys())
                except nats.js.errors.NoKeysError:
                    live = []
                if self.name not in live:
                    live = sorted([*live, self.name])
                if live != self.members:
                    log.info("members now %s", ", ".join(live))
                    self.members = live
                    self._members_changed.set()
            except Exception as exc:  # noqa: BLE001 - NATS away: keep what is owned, retry
                self.counters["heartbeat_errors"] += 1
                log.warning("membership heartbeat failed: %r", exc)
            await asyncio.sleep(self.cc.heartbeat_s)

    async def _rebalancer(self) -> None:
        """Whenever the members change: let go of the partitions now another's (all at once,
        each after its devices are saved), then start pulling the new ones."""
        while True:
            await self._members_changed.wait()
            self._members_changed.clear()
            await self._rebalance(list(self.members))

    async def _rebalance(self, live: list[str]) -> None:
        mine = {p for p, m in assignment(self.cc.partitions, live).items() if m == self.name}
        changed = mine != self.owned
        await asyncio.gather(*(self._let_go(p) for p in sorted(self.owned - mine)))
        for p in sorted(mine - self.owned):
            self.owned.add(p)
            task = asyncio.create_task(self._pull(p), name=f"partition-{p}")
            self._pullers[p] = task
        if changed:
            log.info(
                "worker %s owns %d partitions: %s",
                self.name,
                len(self.owned),
                ",".join(map(str, sorted(self.owned))),
            )

    async def _pull(self, p: int) -> None:
        puller = PinnedPuller(self.nc, self.cc, p, self._pin_lost)

        async def handle(msg: Any) -> None:
            await self._handle(p, msg)

        try:
            await puller.run(lambda: p in self.owned, handle)
        except Exception as exc:
            self.counters["task_failures"] += 1
            log.error("partition %d stopped: %r; it is started again", p, exc, exc_info=exc)
            self.owned.discard(p)
            self._pullers.pop(p, None)
            await asyncio.sleep(1.0)
            self._members_changed.set()  # the rebalancer starts it again

    def _pin_lost(self, p: int) -> None:
        """Another worker read partition ``p`` meanwhile: its devices here are stale; they are
        dropped unsaved and rebuilt from the stored state and RAW if ``p`` comes back."""
        devs = [d for d, q in self.partition_of.items() if q == p]
        self.counters["pins_lost"] += 1
        log.warning(
            "partition %d: its pin went to another worker (no pull request for pin_ttl_s = "
            "%g s); dropping its %d devices unsaved",
            p,
            self.cc.pin_ttl_s,
            len(devs),
        )
        for d in devs:
            self._drop(d)

    async def _let_go(self, p: int) -> None:
        """Stop pulling ``p``, save and drop its devices, release its pin."""
        self.owned.discard(p)
        task = self._pullers.pop(p, None)
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        devs = [d for d, q in self.partition_of.items() if q == p]
        await self.save_states(devs, changed_only=True)
        for d in devs:
            self._drop(d)
        with contextlib.suppress(Exception):
            await unpin(self.nc, self.cc, p)
        self.counters["partitions_released"] += 1
        log.info("partition %d released (%d devices saved)", p, len(devs))

    def _drop(self, device: str) -> None:
        if device in self.applied:
            log.info("device %s let go", device)
        self.monitor.forget(device)
        self.validator.forget(device)
        self.problems.forget(device)
        self.applied.pop(device, None)
        self.partition_of.pop(device, None)
        self.marks.pop(device, None)
        self._base.pop(device, None)
        for key in [k for k in self._topic_seq if k[0] == device]:
            del self._topic_seq[key]
        for key in [k for k in self._topic_raw if k[0] == device]:
            del self._topic_raw[key]
        if self.store is not None:
            self.store.forget(device)

    # ---- raw messages ----------------------------------------------------------------------
    async def _handle(self, p: int, msg: Any) -> None:
        seq = stream_seq(msg)
        try:
            _, device, modality = parse_raw_subject(msg.subject)
        except ValueError as exc:
            self.problems.bad("bad_topics", msg.subject, str(exc))
            await msg.ack()
            return
        problem = device_id_problem(device)
        if "//" in device:  # NATS's MQTT gateway writes a "." of a topic level as "//"
            dotted = device.replace("//", ".")
            problem = (
                f"device id {dotted!r} holds '.', which NATS subjects use as separators (the "
                "MQTT gateway turned it into '//'); in cluster mode a device id is 1-64 "
                f"characters of A-Z a-z 0-9 _ - : publish on affectstream/"
                f"{dotted.replace('.', '-')}/raw/{modality}"
            )
            device = dotted
        if problem is not None:
            self.problems.bad("bad_device_id", device, f"{msg.subject}: {problem}")
            await msg.ack()
            return
        if device in self._stale:
            self._stale.discard(device)
            self._drop(device)
        try:
            if device not in self.applied:
                await self._gain(p, device, seq, msg.data)
            if not self._absorbed(device, modality, seq):
                await self._catch_up(device, modality, msg.data, seq)
                await self._apply(device, modality, msg.data, seq)
            else:
                self.counters["redelivered_skipped"] += 1
        except Exception as exc:  # noqa: BLE001 - NATS away mid-message: rebuild the device
            # the device may be half taken over or half fed: it is dropped unsaved, the message
            # left unacknowledged (delivered again), and the device rebuilt from its stored
            # state and RAW at its next message
            self.counters["message_errors"] += 1
            log.warning(
                "device %s: message %d failed (%r); the device is rebuilt", device, seq, exc
            )
            self._drop(device)
            return
        await msg.ack()

    def _absorbed(self, device: str, modality: str, seq: int) -> bool:
        """Whether raw message ``seq`` on ``device``/``modality`` needs nothing: the device's
        take-over covered it, or its topic went past it (applied already, or too late now).

        Judged per topic, not by the device's newest sequence: when the consumer delivers a
        message before older ones of the device's other topics (the older ones went to a
        reader that lost them), those are still to be applied when they come again."""
        last = self._topic_raw.get((device, modality), 0)
        return seq <= max(self._base.get(device, 0), last)

    async def _catch_up(self, device: str, modality: str, data: bytes, seq: int) -> None:
        """Before a message whose ``seq`` field, or whose start time, jumps past the last one
        on its topic: apply the device's raw messages between from RAW first (none when the
        device really lost them). They exist when the consumer delivers a
        new message before older ones it will deliver again (they went to a reader that did
        not acknowledge them); skipped on their second delivery, they would be lost.

        The messages between start after the topic's own last one, not after the device's
        newest: the device's other topics may have gone on meanwhile (a device publishing a
        chunk again after a server restart, QoS 1, puts a copy in RAW that the consumer may
        deliver before the older messages of the other topics), and theirs in the gap are
        applied too unless :meth:`_absorbed` already."""
        key = (device, modality)
        last = self._topic_seq.get(key)
        if last is None:
            return
        try:
            doc = json.loads(data)
            sent, t0 = doc.get("seq"), doc.get("t0")
        except (ValueError, AttributeError):
            return
        seq_jump = isinstance(sent, int) and sent > last[0] + 1
        time_jump = isinstance(t0, int | float) and last[1] is not None and t0 > last[1] + 0.5
        if not (seq_jump or time_jump):
            return
        # from the topic's last message: the device's other topics may have gone on past
        # messages of theirs that are missing too (each is applied unless absorbed already)
        n = 0
        after = max(self._base.get(device, 0), self._topic_raw.get(key, 0))
        async for s, subject, raw in replay(self.nc, self.cc, device, after + 1, seq - 1):
            _, _, mod = parse_raw_subject(subject)
            if self._absorbed(device, mod, s):
                continue
            await self._apply(device, mod, raw, s)
            n += 1
        if n:
            self.counters["caught_up"] += n
            log.info("device %s: %d raw messages caught up from RAW", device, n)

    def _note_topic(self, device: str, modality: str, ev: ChunkEvent) -> None:
        """Remember the ``seq`` of the last chunk on a topic and where it ended (s)."""
        end = None
        if ev.timestamps is not None and len(ev.timestamps):
            end = float(ev.timestamps[-1])
        elif ev.start_time is not None and ev.fs:
            end = ev.start_time + len(ev.samples) / ev.fs
        self._topic_seq[(device, modality)] = (-1 if ev.seq is None else ev.seq, end)

    def _event(self, device: str, modality: str, data: bytes) -> ChunkEvent | None:
        topic = raw_topic(device, modality)
        try:
            ch = decode_chunk(topic, data)
        except PayloadError as exc:
            self.problems.bad("bad_payloads", device, f"{topic}: {exc}")
            return None
        return self.validator.check(chunk_event(ch, topic, time.perf_counter()))

    async def _apply(self, device: str, modality: str, data: bytes, seq: int) -> None:
        """Absorb one raw message (stream sequence ``seq``) and publish its records."""
        in_order = seq > self.applied.get(device, 0)
        if in_order:
            self.applied[device] = seq
        self._topic_raw[(device, modality)] = seq
        ev = self._event(device, modality, data)
        if ev is None:
            return
        self._note_topic(device, modality, ev)
        try:
            recs = self.monitor.push(
                device,
                ev.modality,
                ev.samples,
                start_time=ev.start_time,
                timestamps=ev.timestamps,
                received=ev.received,
            )
        except ValueError as exc:
            self.problems.bad("bad_chunks", device, f"{device}/{ev.modality}: {exc}")
            return
        st = self.monitor.devices.get(device)
        if not in_order:
            # a mark names the DSP's state after one raw sequence: those taken after this
            # message's sequence lack it, and none is taken now
            late = self.marks.get(device)
            if late is not None:
                late.drop_after(seq)
        elif st is not None:
            marks = self.marks.get(device)
            if marks is None:
                marks = self.marks[device] = DeviceMarks(seq, True, self.cc.mark_every_s)
            marks.note(st, seq)
        publisher = self._needs(self.publisher)
        for r in recs:
            r["clock"] = ev.clock
            self.counters["calibrating_out" if "warmup_left_s" in r else "predictions_out"] += 1
            await publisher.publish(r)

    async def _gain(self, p: int, device: str, upto: int, data: bytes = b"") -> None:
        """Take ``device`` over: its saved state, then its raw messages before ``upto`` (whose
        payload is ``data``). A state whose last frame is more than ``resume_within_s`` before
        the message's data starts a new session instead, as in the plain daemon."""
        store = self._needs(self.store)
        log.info("device %s taken over (partition %d)", device, p)
        self.partition_of[device] = p
        self.applied[device] = 0
        saved = await store.load(device)
        rb: Rebuild | None = None
        first = 1
        t0 = _t0(data)
        if saved is not None and saved.last_frame_s is not None and t0 is not None:
            late = t0 - saved.last_frame_s
            if late > self.config.resume_within_s:
                log.info(
                    "device %s: new data starts %.1f s after its saved session's last frame "
                    "(resumed only within %g s); a new session starts",
                    device,
                    late,
                    self.config.resume_within_s,
                )
                saved, first = None, upto
        if saved is not None:
            try:
                rb = Rebuild(
                    device, saved.state, self.predictor, self.config.hop_s, self.config.max_missing
                )
                first = rb.start_seq
            except (ValueError, KeyError, TypeError) as exc:
                store.ignore(device, f"does not fit this model's session ({exc})")
        # to the message at hand, or to the saved state's last message if that is later (a
        # message the old owner absorbed and saved but whose acknowledgement was lost comes
        # again: it is then skipped)
        last = upto - 1 if rb is None else max(upto - 1, rb.end_seq)
        n = 0
        got = 0
        async for seq, subject, data in replay(self.nc, self.cc, device, first, last):
            n += 1
            got = seq
            _, _, modality = parse_raw_subject(subject)
            if rb is not None and seq <= rb.end_seq:
                self._topic_raw[(device, modality)] = seq
                ev = self._event(device, modality, data)
                if ev is not None:
                    rb.feed(ev.modality, ev.samples, ev.start_time, ev.timestamps)
                    self._note_topic(device, modality, ev)
                continue
            if rb is not None:
                self._adopt(rb)
                rb = None
            await self._apply(device, modality, data, seq)
        if rb is not None:
            self._adopt(rb)
        self._base[device] = last
        self.counters["devices_gained"] += 1
        log.info(
            "device %s resumed (partition %d): %s, %d raw messages replayed (sequences %d to "
            "%d asked, %d the last; the state absorbed %s; the message at hand %d)",
            device,
            p,
            "restored" if saved is not None else "no saved state",
            n,
            first,
            last,
            got,
            "-" if saved is None else saved.state.get("raw_seq"),
            upto,
        )

    @staticmethod
    def _needs(part: _T | None) -> _T:
        """``part`` (the states bucket, the EMOTION publisher), made by :meth:`connect`."""
        if part is None:
            raise RuntimeError("the worker is not connected to NATS yet: await connect() first")
        return part

    def _adopt(self, rb: Rebuild) -> None:
        try:
            st, seq = rb.finish()
        except (ValueError, KeyError, TypeError) as exc:
            self._needs(self.store).ignore(rb.device, f"does not fit this model's session ({exc})")
            return
        self.monitor.adopt(st, seq)
        self.monitor.restored += 1
        self.applied[rb.device] = rb.end_seq
        self.marks[rb.device] = DeviceMarks(
            rb.end_seq + 1, False, self.cc.mark_every_s, inherited=rb.mark
        )
        self.marks[rb.device].note(st, rb.end_seq)

    # ---- saved states ----------------------------------------------------------------------
    async def save_states(self, devices: list[str] | None = None, changed_only: bool = True) -> int:
        """Write the states of these devices (default: all held) that changed; returns how many.
        A device whose state another worker wrote meanwhile is let go."""
        store = self.store
        if store is None:
            return 0
        # every document is made (and its arrays copied out) before the first write: while a
        # write waits, this worker's other partitions go on changing the devices' live state
        docs = []
        for dev, state, last in self.monitor.snapshot(devices, changed_only):
            st = self.monitor.devices[dev]
            marks = self.marks.get(dev)
            mark = marks.mark_for(st) if marks else None
            docs.append((dev, to_json(handover_doc(state, self.applied.get(dev, 0), mark)), last))
        done = 0
        for dev, doc, last in docs:
            try:
                await store.save(dev, doc, last)
                done += 1
            except StateConflict as exc:
                # dropped by its partition's task, between two of its messages (this task must
                # not pull a device from under a message being handled)
                self.counters["state_conflicts"] += 1
                log.warning("%s; the device is rebuilt from the stored state", exc)
                self._stale.add(dev)
            except Exception as exc:  # noqa: BLE001 - NATS away: saved at the next round
                self.counters["state_save_errors"] += 1
                log.warning("cannot save device %s's state: %r", dev, exc)
        self.counters["states_saved"] += done
        return done

    async def _housekeeping(self) -> None:
        cfg = self.config
        tick = max(0.05, min(cfg.state_save_s, cfg.idle_timeout_s / 4, 10.0))
        last_save = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            gone = self.monitor.idle(cfg.idle_timeout_s)
            if gone:
                await self.save_states(gone, changed_only=True)
                for d in gone:
                    self._drop(d)
                self.counters["devices_evicted"] += len(gone)
            if time.monotonic() - last_save >= cfg.state_save_s:
                last_save = time.monotonic()
                await self.save_states()
            if self.publisher is not None and self.publisher.spool:
                await self.publisher.drain()

    def stats(self) -> dict[str, Any]:
        """Counters for logs and tests."""
        out: dict[str, Any] = dict(self.counters)
        out["worker"] = self.name
        out["devices"] = sorted(self.monitor.devices)
        out["partitions"] = sorted(self.owned)
        out["members"] = list(self.members)
        if self.publisher is not None:
            out["emotion"] = dict(self.publisher.counters, spool=len(self.publisher.spool))
        return out

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_interval_s)
            log.info("stats %s", json.dumps(self.stats()))

    # ---- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Work until :attr:`stop`; then save every device, leave the members and unpin."""
        await self.connect()
        tasks = [
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._rebalancer(), name="rebalancer"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            asyncio.create_task(self._log_stats(), name="stats"),
        ]
        await self.stop.wait()
        log.info("stopping: letting %d partitions go", len(self.owned))
        for t in tasks[:2]:
            t.cancel()
        await asyncio.gather(*tasks[:2], return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.members_kv.delete(self.name)
        await asyncio.gather(*(self._let_go(p) for p in sorted(self.owned)))
        for t in tasks[2:]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.publisher is not None and not await self.publisher.drain():
            log.warning("%d predictions still spooled at shutdown", len(self.publisher.spool))
        await self.nc.drain()
        log.info("stopped; stats %s", json.dumps(self.stats()))
