from __future__ import annotations

import asyncio

import aiomqtt

from affectstream.stream.mqtt_link import mqtt_session
from tests.conftest import Broker


def test_a_persistent_broker_keeps_a_session_and_its_messages_across_a_restart(tmp_path):
    """What a persistent session was sent while away survives a broker restart: mosquitto
    started as root must stay able to write its database (it becomes user "mosquitto" unless
    told otherwise, and then keeps nothing)."""
    broker = Broker(tmp_path, persistent=True)

    def client(name: str, clean: bool) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", broker.port, identifier=name, clean_session=clean)

    async def main() -> bytes:
        async with mqtt_session(client("keeper", clean=False)) as c:
            await c.subscribe("kept/topic", qos=1)
        async with mqtt_session(client("sender", clean=True)) as c:
            await c.publish("kept/topic", b"while away", qos=1)
        await asyncio.to_thread(broker.restart)
        async with mqtt_session(client("keeper", clean=False)) as c:
            async with asyncio.timeout(10):
                async for msg in c.messages:
                    return bytes(msg.payload)  # type: ignore[arg-type]
        raise AssertionError("no message")

    try:
        assert asyncio.run(main()) == b"while away"
    finally:
        broker.stop()
    assert any((tmp_path / f"mosquitto-db-{broker.port}").iterdir())
