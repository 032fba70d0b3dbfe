"""Publishing a recording as a live device would: over MQTT or as LSL outlets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectstream.data import Recording
from affectstream.stream.clock import unix_to_lsl
from affectstream.stream.config import BrokerConfig
from affectstream.stream.payload import encode_chunk, raw_topic
from affectstream.stream.replay import replay_chunks

log = logging.getLogger("affectstream.replay")

#: LSL stream type per modality.
LSL_TYPE = {
    "ecg": "ECG",
    "eda": "EDA",
    "temp": "TEMP",
    "bvp": "BVP",
    "resp": "RESP",
    "hr": "HR",
    "ibi": "IBI",
}


async def _pace(t_end: float, speed: float, wall0: float) -> None:
    if speed > 0:
        lag = t_end / speed - (time.perf_counter() - wall0)
        if lag > 0:
            await asyncio.sleep(lag)


async def publish_mqtt(
    rec: Recording,
    broker: BrokerConfig,
    device: str,
    speed: float = 1.0,
    modalities: Sequence[str] | None = None,
    chunk_s: float = 1.0,
) -> int:
    """Publish ``rec`` on ``affectstream/<device>/raw/<modality>`` (QoS 1), reconnecting and
    resuming where it stopped if the broker goes away. Returns the number of messages sent."""
    import aiomqtt

    from affectstream.stream.mqtt_link import make_client, mqtt_session

    chunks = list(replay_chunks(rec, modalities or list(rec.signals), chunk_s))
    sent = 0
    wall0 = time.perf_counter()
    delay = 0.2
    while sent < len(chunks):
        try:
            async with mqtt_session(make_client(broker)) as client:
                delay = 0.2
                while sent < len(chunks):
                    ch = chunks[sent]
                    await _pace(ch.t_end, speed, wall0)
                    payload = encode_chunk(
                        ch.start_time,
                        ch.fs if ch.timestamps is None else 0.0,
                        ch.channels,
                        ch.seq,
                        ch.samples,
                        ch.timestamps,
                    )
                    await client.publish(raw_topic(device, ch.modality), payload, qos=1)
                    sent += 1
        except aiomqtt.MqttError as exc:
            log.warning(
                "replay: broker %s:%d: %s; resuming at chunk %d in %.1f s",
                broker.host,
                broker.port,
                exc,
                sent,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)
    return sent


def make_lsl_outlets(rec: Recording, device: str, modalities: Sequence[str]) -> dict[str, Any]:
    """One outlet per modality, typed (BVP, EDA, ...), source_id ``<device>/<modality>``; a
    signal with per-sample times (``ibi``) is an irregular-rate stream."""
    import pylsl

    outlets = {}
    for m in modalities:
        s = rec.signals[m]
        info = pylsl.StreamInfo(
            f"{device}-{m}",
            LSL_TYPE.get(m, m.upper()),
            s.n_channels,
            s.fs if s.timestamps is None else pylsl.IRREGULAR_RATE,
            pylsl.cf_double64,
            f"{device}/{m}",
        )
        chans = info.desc().append_child("channels")
        for c in s.channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", c)
            ch.append_child_value("unit", s.unit or "a.u.")
            ch.append_child_value("type", LSL_TYPE.get(m, m.upper()))
        info.desc().append_child_value("device", device)
        info.desc().append_child_value("modality", m)
        outlets[m] = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=360)
    return outlets


async def publish_lsl(
    rec: Recording,
    device: str,
    speed: float = 1.0,
    modalities: Sequence[str] | None = None,
    chunk_s: float = 1.0,
    wait_for_consumers_s: float = 10.0,
    linger_s: float = 2.0,
) -> int:
    """Push ``rec`` through LSL outlets as a live device would: the recording's sample times
    (Unix time) put on this machine's LSL clock (:func:`affectstream.stream.clock.unix_to_lsl`),
    so a receiver maps them back to the recording's times.

    Waits up to ``wait_for_consumers_s`` for every outlet to have a consumer first, so nothing
    is pushed into the void, and keeps the outlets ``linger_s`` after the last push so consumers
    can drain them. Returns the number of chunks pushed.
    """
    mods = list(modalities or rec.signals)
    outlets = make_lsl_outlets(rec, device, mods)
    deadline = time.monotonic() + wait_for_consumers_s
    while time.monotonic() < deadline and not all(o.have_consumers() for o in outlets.values()):
        await asyncio.sleep(0.05)
    n = 0
    wall0 = time.perf_counter()
    for ch in replay_chunks(rec, mods, chunk_s):
        await _pace(ch.t_end, speed, wall0)
        if ch.timestamps is not None:
            ts = (unix_to_lsl(ch.start_time) + (ch.timestamps - ch.timestamps[0])).tolist()
        else:
            ts = (unix_to_lsl(ch.start_time) + np.arange(len(ch.samples)) / ch.fs).tolist()
        outlets[ch.modality].push_chunk(ch.samples.tolist(), ts)
        n += 1
        if speed == 0 and n % 16 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(linger_s)  # consumers drain before the outlets go away
    return n
