"""Training configuration: defaults, a TOML file, and checks with messages naming the key."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from affectstream.model.feature_calibration import FeatureRule

MODELS = ("majority", "logreg", "forest", "cnn", "researcher_cnn")
SPLITS = ("groupkfold", "loso")


@dataclass
class CnnConfig:
    """Compact-CNN training: Adam, balanced class weights, early stopping on an inner
    subject-wise validation split."""

    epochs: int = 60
    batch_size: int = 64
    patience: int = 10
    learning_rate: float = 5e-4
    dropout: float = 0.5
    input_noise: float = 0.03
    validation_fraction: float = 0.2


@dataclass
class ResearcherConfig:
    """The original researcher's way: raw input, no class weights, fixed epochs, one-minute
    non-overlapping windows."""

    epochs: int = 10
    batch_size: int = 32


@dataclass
class TrainConfig:
    """Everything ``affectstream train`` needs besides the data path.

    Sections of the TOML file: top-level keys below, plus ``[data]`` (reader options),
    ``[preprocess]`` (a Preprocessor config), ``[calibration]``, ``[cnn]``, ``[researcher]``.
    """

    window_s: float = 60.0
    hop_s: float = 15.0
    max_missing: float = 0.1
    split: str = "groupkfold"
    n_splits: int = 6
    models: list[str] = field(default_factory=lambda: list(MODELS))
    permutations: int = 1000
    seed: int = 0
    ablation: bool = True
    learning_curve: bool = True
    #: nested selection of the exportable feature model's procedure (rule, C, operating point)
    nested: bool = True
    #: operating point: the share of calm windows the exported model may call something else
    false_alarm_rate: float = 0.10
    #: feature calibration rules the nested selection compares (FeatureRule keys)
    feature_rules: list[dict[str, Any]] = field(
        default_factory=lambda: [{"kind": "running"}, {"kind": "anchored"}]
    )
    #: logistic-regression inverse regularisation strengths it compares
    nested_c: list[float] = field(default_factory=lambda: [0.03, 0.1, 0.3])
    max_subjects: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    cnn: CnnConfig = field(default_factory=CnnConfig)
    researcher: ResearcherConfig = field(default_factory=ResearcherConfig)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split = {self.split!r}: use one of {', '.join(SPLITS)}")
        bad = [m for m in self.models if m not in MODELS]
        if bad:
            raise ValueError(f"models: unknown {bad}; choose from {', '.join(MODELS)}")
        if self.n_splits < 2:
            raise ValueError(f"n_splits = {self.n_splits}: need at least 2 folds")
        if not 0 <= self.max_missing < 1:
            raise ValueError(f"max_missing = {self.max_missing}: a fraction in [0, 1)")
        if not 0 < self.false_alarm_rate < 1:
            raise ValueError(
                f"false_alarm_rate = {self.false_alarm_rate}: a fraction in (0, 1), e.g. 0.1"
            )
        if not self.feature_rules or not self.nested_c or min(self.nested_c) <= 0:
            raise ValueError("feature_rules and nested_c need at least one entry; C > 0")
        for r in self.feature_rules:
            FeatureRule.from_dict(r)  # raises naming the bad rule

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (parsed TOML); unknown keys are errors."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}"
            )
        for key, sub in (("cnn", CnnConfig), ("researcher", ResearcherConfig)):
            if key in d:
                sk = {f.name for f in fields(sub)}
                extra = set(d[key]) - sk
                if extra:
                    raise ValueError(
                        f"[{key}] has unknown key(s) {sorted(extra)}; known: "
                        f"{', '.join(sorted(sk))}"
                    )
                d[key] = sub(**d[key])
        return cls(**d)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read a TOML training config."""
        try:
            with open(path, "rb") as fh:
                return cls.from_dict(tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


#: A configuration small enough for tests: two folds, few epochs, no permutations to speak of.
REDUCED = {
    "n_splits": 2,
    "nested_c": [0.1],
    "hop_s": 30.0,
    "permutations": 50,
    "cnn": {"epochs": 3, "patience": 2},
    "researcher": {"epochs": 1},
}
