from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from affectstream.model.bundle import (
    BundleError,
    default_bundle_path,
    read_bundle,
    write_bundle,
)
from affectstream.model.predictor import Predictor
from tests.conftest import CNN_BUNDLE, EXCERPT


@pytest.fixture(scope="module", params=["default", "cnn"])
def default_predictor(request) -> Predictor:
    """The packaged model, and a frame-input (CNN) bundle."""
    return Predictor("default" if request.param == "default" else CNN_BUNDLE)


def test_default_bundle_is_small_and_valid(default_predictor):
    assert default_bundle_path().stat().st_size <= 64 * 1024
    meta = default_predictor.metadata
    assert meta["classes"] == ["non-stress", "stress"]
    derived = [d["name"] for d in meta["preprocess"]["derived"]]
    assert meta["channels"] == ["bvp", "eda", "temp", *derived]
    assert derived == ([] if default_predictor.input_kind == "features" else ["heart_rate"])
    assert "S13" not in meta["training"]["subjects"]  # the demo's subject is held out
    d = default_predictor.describe()
    assert d["input"]["dtype"] == "int8" and d["output"]["dtype"] == "int8"


def test_predict_single_and_batch_agree(default_predictor):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, *default_predictor.input_shape)).astype(np.float32)
    batch = default_predictor.predict(x)
    assert batch.shape == (5, 2)
    assert np.allclose(batch.sum(1), 1.0, atol=0.02)
    for i in range(5):
        assert np.allclose(default_predictor.predict(x[i]), batch[i], atol=1e-6)


def test_wrong_window_shape_is_refused(default_predictor):
    shape = ", ".join(map(str, default_predictor.input_shape))
    with pytest.raises(ValueError, match=f"takes \\(n, {shape}\\) {default_predictor.input_kind}"):
        default_predictor.predict(np.zeros((10, 3, 2)))


def test_missing_channel_is_named(default_predictor):
    needs = (
        "['temp']"
        if default_predictor.input_kind == "features"
        else ("['temp', 'heart_rate (derived from bvp)']")
    )
    with pytest.raises(BundleError) as err:
        default_predictor.check_channels(["bvp", "eda"])
    assert f"needs channel(s) {needs}" in str(err.value)


def _copy_bundle(tmp_path, edit=None, model_edit=None):
    src = read_bundle("default")
    meta = dict(src.metadata)
    model = src.model_bytes
    if edit:
        edit(meta)
    if model_edit:
        model = model_edit(model)
    out = tmp_path / "b.afb"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("model.tflite", model)
    return out


def test_tampered_model_fails_the_hash(tmp_path):
    def flip(b: bytes) -> bytes:
        arr = bytearray(b)
        arr[len(arr) // 2] ^= 0xFF
        return bytes(arr)

    p = _copy_bundle(tmp_path, model_edit=flip)
    with pytest.raises(BundleError, match="does not match the metadata"):
        Predictor(p)


def test_unknown_schema_version(tmp_path):
    p = _copy_bundle(tmp_path, edit=lambda m: m.update(schema_version=99))
    with pytest.raises(BundleError, match="schema version 99 is not supported"):
        read_bundle(p)


def test_a_flipped_byte_anywhere_is_a_bundle_error_or_harmless(tmp_path):
    # a flip inside compressed data surfaced once as zlib.error, which the daemon's
    # `--check` did not turn into a message; every byte position must give BundleError
    # (or, in a field nothing reads, such as a timestamp, a bundle that still checks out)
    data = default_bundle_path().read_bytes()
    p = tmp_path / "flipped.afb"
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0xFF
        p.write_bytes(bytes(bad))
        with contextlib.suppress(BundleError):
            read_bundle(p)


def test_truncated_and_foreign_files(tmp_path):
    data = default_bundle_path().read_bytes()
    cut = tmp_path / "cut.afb"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="damaged or truncated"):
        read_bundle(cut)
    other = tmp_path / "x.afb"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(BundleError, match="not an affectstream bundle"):
        read_bundle(other)
    with pytest.raises(BundleError, match="no such model bundle"):
        read_bundle(tmp_path / "nope.afb")


def test_write_bundle_refuses_incomplete_metadata(tmp_path):
    with pytest.raises(BundleError, match="lacks"):
        write_bundle(tmp_path / "m.afb", {"classes": ["a"]}, b"x")


def test_runtime_never_imports_tensorflow():
    code = (
        "import sys; import affectstream.model.predictor, affectstream.model.offline, "
        "affectstream.stream, affectstream.dsp, affectstream.data; "
        "from affectstream.model.predictor import Predictor; p = Predictor('default'); "
        "p.predict(__import__('numpy').zeros(p.input_shape, 'float32')); "
        "from affectstream.data import load_npz; from affectstream.model.offline import "
        f"predict_recording; predict_recording(p, load_npz({str(EXCERPT)!r})); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_default_model_does_not_cry_stress_in_the_demos_opening_rest(excerpt):
    """S13 was held out of the default model's training; its first five predicted minutes lie
    in the opening rest, before any task: at most 2 of those windows may be called stress."""
    from affectstream.model.offline import predict_recording

    pred = Predictor("default")
    rp = predict_recording(pred, excerpt)
    minutes = rp.t_end - rp.t_end[0] < 300.0 - 1e-6
    assert minutes.sum() == 20 and all(t == "non-stress" for t in np.array(rp.true)[minutes])
    called = [pred.classes[int(np.argmax(p))] for p in rp.probs[minutes]]
    assert called.count("stress") <= 2, called


def test_metadata_fields_are_checked_by_name_when_a_bundle_is_read(tmp_path):
    b = read_bundle("default")
    assert b.meta.max_missing == 0.1 and b.meta.classes == ("non-stress", "stress")
    for edit, what in (
        ({"window_frames": 100}, "window_frames 100 does not match"),
        ({"classes": ["a", "a"]}, "'classes' names something twice"),
        ({"max_missing": 1.5}, "'max_missing' must be a fraction"),
        ({"model_rate": "fast"}, "'model_rate' must be a positive number"),
    ):
        path = write_bundle(tmp_path / "m.afb", {**b.metadata, **edit}, b.model_bytes)
        with pytest.raises(BundleError, match=what):
            read_bundle(path)


def test_a_bundle_written_with_the_old_spelling_reads_with_a_deprecation_warning(tmp_path):
    import json
    import zipfile

    from affectstream.model.bundle import read_bundle, write_bundle
    from tests.conftest import CNN_BUNDLE

    with zipfile.ZipFile(CNN_BUNDLE) as z:
        meta, model = json.loads(z.read("metadata.json")), z.read("model.tflite")
    meta["calibration"]["global_center"] = meta["calibration"].pop("global_centre")
    old = write_bundle(tmp_path / "old.afb", meta, model)
    with pytest.warns(DeprecationWarning, match="'global_center' is now 'global_centre'"):
        b = read_bundle(old)
    assert b.metadata["calibration"]["global_centre"] == meta["calibration"]["global_center"]
