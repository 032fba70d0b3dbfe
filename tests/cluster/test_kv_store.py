"""Device states in a real JetStream KV bucket: the DeviceStore document, read back as written;
compare-and-swap writes: a worker that lost the device cannot overwrite the newer state."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from affectstream.cluster.kv_store import KvDeviceStore, StateConflict


def test_states_round_trip_and_writes_are_compare_and_swap(nats_server):
    import nats
    from nats.js.api import KeyValueConfig

    async def main() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        kv = await js.create_key_value(KeyValueConfig(bucket="states_test", history=1))
        a, b = KvDeviceStore(kv, "m1"), KvDeviceStore(kv, "m1")
        assert await a.load("e4-07") is None
        state = {"device": {"x": np.arange(3.0), "nan": float("nan")}, "seq": 4, "raw_seq": 9}
        await a.save("e4-07", state, 12.5)
        got = await b.load("e4-07")  # b takes the device over: it read revision 1
        assert got is not None and got.last_frame_s == 12.5 and got.state["seq"] == 4
        np.testing.assert_array_equal(got.state["device"]["x"], np.arange(3.0))
        await b.save("e4-07", {**state, "seq": 5}, 13.0)
        with pytest.raises(StateConflict):  # a's revision is old: it lost the device
            await a.save("e4-07", {**state, "seq": 6}, 14.0)
        assert (await b.load("e4-07")).state["seq"] == 5  # type: ignore[union-attr]
        assert a.conflicts == 1
        # another model's state is ignored (logged, counted)
        other = KvDeviceStore(kv, "m2")
        assert await other.load("e4-07") is None and other.ignored == 1
        assert await a.devices() == ["e4-07"]
        with pytest.raises(ValueError, match="device id"):
            await a.save("bad id", state, None)
        await nc.close()

    asyncio.run(main())
