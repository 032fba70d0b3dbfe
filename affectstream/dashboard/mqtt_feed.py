"""The dashboard's MQTT feed: prediction topics (and, optionally, raw topics) into the state.

It uses the daemon's own connection code (:class:`~affectstream.stream.mqtt_link.MqttLink`:
reconnect with back-off, TLS verified against ``ca_file``, credentials read from where the
config points), subscribe-only. Bad messages are counted and logged, never raised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from affectstream.dashboard.state import DashboardState
from affectstream.data.recording import canonical_modality
from affectstream.stream.config import BrokerConfig
from affectstream.stream.mqtt_link import MqttLink
from affectstream.stream.payload import (
    MAX_PAYLOAD_BYTES,
    RAW_TOPIC_FILTER,
    TOPIC_PREFIX,
    PayloadError,
    decode_chunk,
)

#: Every device's predictions.
EMOTION_TOPIC_FILTER = f"{TOPIC_PREFIX}/+/emotion"


def dashboard_broker(broker: BrokerConfig) -> BrokerConfig:
    """The broker settings for the dashboard's own connection: the same host, TLS and
    credentials, but a client id of its own (a broker drops the older of two connections
    with one id, so reusing the daemon's would knock the daemon off)."""
    cid = f"{broker.client_id}-dashboard" if broker.client_id else ""
    return dataclasses.replace(broker, client_id=cid)


class MqttFeed:
    """Subscribes to ``affectstream/+/emotion`` (and ``affectstream/+/raw/+`` when ``raw``)
    and hands what arrives to ``state``.

    Parameters
    ----------
    broker
        Where the broker is and how to log in (use :func:`dashboard_broker` on the daemon's).
    state
        The dashboard state to update.
    raw
        Also subscribe to the raw sample topics (for the detail view's signals).
    """

    def __init__(self, broker: BrokerConfig, state: DashboardState, raw: bool = True) -> None:
        self.state = state
        topics = [EMOTION_TOPIC_FILTER] + ([RAW_TOPIC_FILTER] if raw else [])
        self.link = MqttLink(broker, topics, self.handle)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the subscription until ``stop`` is set."""
        await self.link.run(stop)

    def handle(self, topic: str, payload: bytes) -> None:
        """One message: a prediction record or a raw chunk; bad ones are counted."""
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] == "emotion":
            if len(payload) > MAX_PAYLOAD_BYTES:
                self.state.bad("bad_records", f"{topic}: {len(payload)} bytes, too large")
                return
            try:
                rec = json.loads(payload)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self.state.bad("bad_records", f"{topic}: not JSON ({exc})")
                return
            if isinstance(rec, dict) and rec.get("device") != parts[1]:
                self.state.bad("bad_records", f"{topic}: record names device {rec.get('device')!r}")
                return
            self.state.add_record(rec)
            return
        try:
            ch = decode_chunk(topic, payload)
        except PayloadError as exc:
            self.state.bad("bad_raw", f"{topic}: {exc}")
            return
        modality = canonical_modality(ch.modality) or ch.modality.lower()
        self.state.add_raw(ch.device, modality, ch.t0, ch.fs, ch.samples, ch.channels)
