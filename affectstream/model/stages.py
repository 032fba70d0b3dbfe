"""The late stages of ``affectstream train`` (ablation, learning curve, export, figures): run so
that one failing leaves the report of what finished, sized to what the data can say, and timed
aloud."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Fewer labelled windows than this in some class and the ablation and learning curve are
#: skipped: one window more or less right moves that class's recall by more than 0.2, more than
#: the differences these stages compare.
MIN_WINDOWS_PER_CLASS = 5


def run_stage(
    name: str,
    fn: Callable[[], T],
    errors: list[dict[str, str]],
    say: Callable[[str], None],
    default: T,
) -> T:
    """``fn()``, or ``default`` when it raises: the error is appended to ``errors`` as
    ``{"stage", "error", "traceback"}`` and shown, and the run goes on."""
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - a late stage must not take the finished ones with it
        errors.append(
            {
                "stage": name,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6),
            }
        )
        say(f"ERROR in {name}: {type(exc).__name__}: {exc} (the report keeps what finished)")
        return default
    dt = time.perf_counter() - t0
    if dt > 3:
        say(f"{name}: done in {dt:.0f} s")
    return out


def too_small(counts: dict[str, int]) -> str | None:
    """Why the windows are too few for the ablation and learning curve (None: enough).

    ``counts``: labelled windows per class; see :data:`MIN_WINDOWS_PER_CLASS`.
    """
    lo = min(counts.values())
    if lo >= MIN_WINDOWS_PER_CLASS:
        return None
    return (
        f"only {lo} windows in the smallest class (fewer than {MIN_WINDOWS_PER_CLASS}): one "
        f"window more or less right moves that class's recall by {1 / max(lo, 1):.2f}, more "
        "than the differences this stage compares"
    )


def estimate(n_fits: int, seconds_per_fit: float) -> str:
    """``"about N s"`` (or min) for ``n_fits`` fits of ``seconds_per_fit`` s each."""
    total = n_fits * seconds_per_fit
    return f"about {total / 60:.1f} min" if total >= 90 else f"about {max(total, 1):.0f} s"


def fit_seconds(times: dict[str, float], n_folds: int, names: Any) -> float:
    """Mean seconds per fold of the models ``names`` in the main loop (``times``: total seconds
    per model over ``n_folds`` folds)."""
    names = [m for m in names if m in times]
    return sum(times[m] for m in names) / max(n_folds * len(names), 1) if names else 0.0


class Paced:
    """A progress callback for a stage of ``total`` steps that says ``"WHAT: i/total, about N s
    left"`` at most every ``every_s`` seconds (and at the last step), whatever the stage says
    on each step."""

    def __init__(
        self, say: Callable[[str], None], what: str, total: int, every_s: float = 10.0
    ) -> None:
        self.say, self.what, self.total, self.every_s = say, what, total, every_s
        self.done = 0
        self.t0 = self.last = time.perf_counter()

    def __call__(self, _message: str) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last < self.every_s and self.done < self.total:
            return
        self.last = now
        left = (now - self.t0) / self.done * (self.total - self.done)
        tail = f", about {left:.0f} s left" if self.done < self.total else ""
        self.say(f"{self.what}: {self.done}/{self.total}{tail}")
