"""The model bundle: one file holding the int8 TFLite model and everything the runtime needs.

A bundle is a zip archive (stored, not compressed; no pickle anywhere) with two members:

- ``metadata.json``: schema version, model id, class names, modalities and channel order, model
  rate, window and default hop, the Preprocessor config, the calibration rule with its training
  statistics, quantization parameters, the training report's summary, and the sha256 of the
  model bytes;
- ``model.tflite``: the full-integer int8 model.

:func:`read_bundle` checks all of it before anything is loaded into an interpreter.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from affectstream.model.bundle_metadata import SCHEMA_VERSION, BundleMetadata

METADATA = "metadata.json"
MODEL = "model.tflite"
#: Largest bundle accepted (bytes): a guard against reading something that is not a bundle.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024

REQUIRED_KEYS = (
    "schema_version",
    "model_id",
    "classes",
    "channels",
    "modalities",
    "model_rate",
    "window_s",
    "window_frames",
    "default_hop_s",
    "preprocess",
    "calibration",
    "quantization",
    "sha256",
)


class BundleError(ValueError):
    """A bundle that cannot be used; the message says which check failed and what to do."""


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: its metadata (the plain dict, and typed as :attr:`meta`) and the
    model bytes."""

    path: str
    metadata: dict[str, Any]
    model_bytes: bytes

    @property
    def meta(self) -> BundleMetadata:
        """The metadata, typed (validated when the bundle was read)."""
        return BundleMetadata.from_dict(self.metadata)

    @property
    def size_bytes(self) -> int:
        """Size of the bundle file."""
        return Path(self.path).stat().st_size


def default_bundle_path() -> Path:
    """The model shipped inside the package (``affectstream/model/default.afb``)."""
    return Path(str(resources.files("affectstream.model") / "default.afb"))


def resolve(path: str | Path) -> Path:
    """``"default"`` names the bundled model; anything else is a path."""
    return default_bundle_path() if str(path) == "default" else Path(path)


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def write_bundle(path: str | Path, metadata: dict[str, Any], model_bytes: bytes) -> Path:
    """Write a bundle; fills ``schema_version`` and ``sha256``."""
    meta = dict(metadata)
    meta["schema_version"] = SCHEMA_VERSION
    meta["sha256"] = sha256(model_bytes)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise BundleError(f"bundle metadata lacks {missing}")
    out = Path(path)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(METADATA, json.dumps(meta, indent=1, sort_keys=True))
        z.writestr(MODEL, model_bytes)
    return out


#: Metadata keys renamed since bundles were first written: old -> new (calibration section).
RENAMED_CALIBRATION_KEYS = {"global_center": "global_centre"}


def _renamed_keys(meta: dict[str, Any], p: Path) -> None:
    """Read an older bundle's renamed keys under their new names, with a DeprecationWarning."""
    cal = meta.get("calibration")
    if not isinstance(cal, dict):
        return
    for old, new in RENAMED_CALIBRATION_KEYS.items():
        if old in cal and new not in cal:
            warnings.warn(
                f"{p}: calibration key {old!r} is now {new!r}; read under the new name. "
                "Re-export the model to update the bundle",
                DeprecationWarning,
                stacklevel=3,
            )
            cal[new] = cal.pop(old)


def read_bundle(path: str | Path) -> Bundle:
    """Read and validate a bundle.

    Raises
    ------
    BundleError
        For a missing, truncated or corrupt file, an unknown schema version, missing metadata,
        or model bytes whose sha256 differs from the metadata's.
    """
    p = resolve(path)
    if not p.is_file():
        hint = (
            "the package was installed without its default model; reinstall affectstream"
            if str(path) == "default"
            else "check the path"
        )
        raise BundleError(f"{p}: no such model bundle; {hint}")
    size = p.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{p}: {size} bytes is far larger than any bundle; is it one?")
    raw = p.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = set(z.namelist())
            if not {METADATA, MODEL} <= names:
                raise BundleError(
                    f"{p}: not an affectstream bundle (members {sorted(names)}); export one with "
                    "`affectstream export`"
                )
            meta_bytes = z.read(METADATA)
            model = z.read(MODEL)
    except BundleError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        zlib.error,
        NotImplementedError,  # a damaged header naming an unknown zip version or method
        ValueError,
        KeyError,
    ) as exc:
        raise BundleError(
            f"{p}: damaged or truncated bundle ({type(exc).__name__}: {exc}); copy it again "
            "or re-export it"
        ) from exc
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{p}: bundle metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise BundleError(f"{p}: bundle metadata must be a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing and meta.get("schema_version") == SCHEMA_VERSION:
        raise BundleError(f"{p}: bundle metadata lacks {missing}; re-export the model")
    _renamed_keys(meta, p)
    try:
        BundleMetadata.from_dict(meta)
    except ValueError as exc:
        raise BundleError(f"{p}: {exc}") from None
    digest = sha256(model)
    if digest != meta["sha256"]:
        raise BundleError(
            f"{p}: model sha256 {digest[:12]}... does not match the metadata's "
            f"{str(meta['sha256'])[:12]}...: the file was modified or corrupted; do not use it"
        )
    return Bundle(str(p), meta, model)
