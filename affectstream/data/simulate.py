"""Synthetic recordings shaped exactly like the project's original data ("seed layout").

312 one-minute records (26 people x 6 emotions x 2) of ECG, GSR and TEMP at 300 Hz in the long
CSV format, with a subject column. The physiology is modelled, not noise:

- ECG: the Gaussian-wave beat model of McSharry et al. (2003) (P, Q, R, S, T waves placed in the
  phase of each beat), on an RR tachogram with respiratory (HF, ~0.25 Hz) and Mayer-wave (LF,
  ~0.1 Hz) variability, plus baseline wander, mains hum and muscle noise;
- GSR: a tonic level with drift plus skin conductance responses (Bateman function, rise ~0.75 s,
  recovery ~2 s) arriving as a Poisson process;
- TEMP: a level with a slow emotion-dependent trend and sensor noise.

Each emotion shifts heart rate, heart rate variability, the rate and size of conductance
responses and the temperature trend, by a different amount on every trial (:func:`jitter`).
People differ more than emotions do: resting heart rate (SD 9 bpm), tonic conductance
(1 to 20 uS), response size and skin temperature vary between people by more than any emotion
moves them, which is what makes a random split look good and a subject-wise one honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMOTIONS = ("anger", "calmness", "disgust", "fear", "happiness", "sadness")


@dataclass(frozen=True)
class EmotionEffect:
    """How an emotion moves the physiology away from the person's resting state."""

    hr_delta_bpm: float
    hrv_scale: float  # multiplies the person's HRV amplitude
    scr_per_min: float
    scr_amplitude_scale: float
    temp_slope_c_per_min: float


EFFECTS: dict[str, EmotionEffect] = {
    "anger": EmotionEffect(7.0, 0.7, 6.0, 1.3, -0.06),
    "calmness": EmotionEffect(-4.0, 1.3, 1.0, 0.7, 0.03),
    "disgust": EmotionEffect(1.0, 0.9, 4.0, 1.0, -0.02),
    "fear": EmotionEffect(9.0, 0.6, 8.0, 1.5, -0.08),
    "happiness": EmotionEffect(4.0, 1.0, 3.5, 1.0, 0.01),
    "sadness": EmotionEffect(-2.0, 1.1, 1.5, 0.8, -0.01),
}

#: McSharry et al. (2003) wave parameters: angle of the wave centre relative to the R wave
#: (radians), amplitude and width (radians).
PQRST = (
    (-np.pi / 3, 1.2, 0.25),
    (-np.pi / 12, -5.0, 0.1),
    (0.0, 30.0, 0.1),
    (np.pi / 12, -7.5, 0.1),
    (np.pi / 2, 0.75, 0.4),
)


@dataclass(frozen=True)
class Person:
    """A simulated person's resting physiology."""

    hr_bpm: float
    hrv_s: float
    scl_us: float
    scr_amp_us: float
    temp_c: float
    ecg_gain: float


def jitter(eff: EmotionEffect, rng: np.random.Generator) -> EmotionEffect:
    """One trial's response: the same emotion moves the body differently each time (heart rate
    SD 4 bpm, response rate and size, temperature trend), so no single feature separates the
    emotions once people's baselines are removed."""
    return EmotionEffect(
        hr_delta_bpm=eff.hr_delta_bpm + rng.normal(0, 4.0),
        hrv_scale=eff.hrv_scale * rng.lognormal(0, 0.2),
        scr_per_min=max(0.2, eff.scr_per_min * rng.lognormal(0, 0.5)),
        scr_amplitude_scale=eff.scr_amplitude_scale * rng.lognormal(0, 0.3),
        temp_slope_c_per_min=eff.temp_slope_c_per_min + rng.normal(0, 0.04),
    )


def draw_person(rng: np.random.Generator) -> Person:
    """One person, drawn so that people differ more than emotions do."""
    return Person(
        hr_bpm=float(np.clip(rng.normal(72, 9), 50, 100)),
        hrv_s=float(rng.uniform(0.02, 0.07)),
        scl_us=float(np.exp(rng.uniform(np.log(1.0), np.log(20.0)))),
        scr_amp_us=float(np.exp(rng.normal(np.log(0.3), 0.5))),
        temp_c=float(rng.normal(33.0, 1.0)),
        ecg_gain=float(rng.uniform(0.6, 1.6)),
    )


def _beat_times(
    seconds: float, hr_bpm: float, hrv_s: float, rng: np.random.Generator
) -> np.ndarray:
    mean_rr = 60.0 / hr_bpm
    times, t = [], -rng.uniform(0, mean_rr)
    f_hf, f_lf = rng.uniform(0.2, 0.33), rng.uniform(0.08, 0.12)
    ph_hf, ph_lf = rng.uniform(0, 2 * np.pi, 2)
    while t < seconds + 2:
        rr = mean_rr + hrv_s * (
            np.sin(2 * np.pi * f_hf * t + ph_hf)
            + 0.7 * np.sin(2 * np.pi * f_lf * t + ph_lf)
            + 0.3 * rng.standard_normal()
        )
        t += max(rr, 0.3)
        times.append(t)
    return np.asarray(times)


def synth_ecg(
    seconds: float, fs: float, hr_bpm: float, hrv_s: float, gain: float, rng: np.random.Generator
) -> np.ndarray:
    """ECG in millivolts, shape ``(n,)``, from the Gaussian-wave beat model."""
    t = np.arange(int(round(seconds * fs))) / fs
    beats = _beat_times(seconds, hr_bpm, hrv_s, rng)
    x = np.zeros_like(t)
    for i in range(1, beats.size):
        tr, rr = beats[i - 1], beats[i] - beats[i - 1]
        a, b = np.searchsorted(t, [tr - 0.45 * rr, tr + 0.55 * rr])
        phase = 2 * np.pi * (t[a:b] - tr) / rr
        for theta, amp, width in PQRST:
            x[a:b] += amp * np.exp(-((phase - theta) ** 2) / (2 * width**2))
    x *= gain / 30.0  # R wave about `gain` mV
    x += 0.15 * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 6))  # wander
    x += 0.02 * np.sin(2 * np.pi * 50.0 * t)  # mains
    x += 0.01 * rng.standard_normal(t.size)  # muscle noise
    return x


def synth_gsr(
    seconds: float, fs: float, level: float, per_min: float, amp: float, rng: np.random.Generator
) -> np.ndarray:
    """Skin conductance in microsiemens, shape ``(n,)``: tonic level plus Bateman SCRs."""
    t = np.arange(int(round(seconds * fs))) / fs
    x = level + rng.normal(0, 0.02 * level) * t / seconds
    onsets = np.cumsum(rng.exponential(60.0 / per_min, size=int(per_min * seconds / 30) + 4))
    onsets = onsets[onsets < seconds] - rng.uniform(0, 60.0 / per_min)
    for o in onsets:
        d = t - o
        m = d > 0
        shape = np.exp(-d[m] / 2.0) - np.exp(-d[m] / 0.75)
        x[m] += amp * rng.lognormal(0, 0.3) * shape / 0.4
    return x + 0.005 * rng.standard_normal(t.size)


def synth_temp(
    seconds: float, fs: float, level: float, slope_per_min: float, rng: np.random.Generator
) -> np.ndarray:
    """Skin temperature in degrees C, shape ``(n,)``."""
    t = np.arange(int(round(seconds * fs))) / fs
    return level + slope_per_min * t / 60.0 + 0.01 * rng.standard_normal(t.size)


def simulate_seed_layout(
    out: str | Path,
    *,
    n_subjects: int = 26,
    records_per_emotion: int = 2,
    record_length: int = 18000,
    fs: float = 300.0,
    seed: int = 0,
) -> Path:
    """Write the seed-layout CSV (``ECG,GSR,TEMP,label,subject``) and a README; return the CSV.

    The default writes 312 records of 18,000 samples (60 s at 300 Hz).
    """
    rng = np.random.default_rng(seed)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seed_layout.csv"
    seconds = record_length / fs
    with open(path, "w") as fh:
        fh.write("ECG,GSR,TEMP,label,subject\n")
        for s in range(n_subjects):
            person = draw_person(rng)
            order = [e for e in EMOTIONS for _ in range(records_per_emotion)]
            rng.shuffle(order)
            for emo in order:
                eff = jitter(EFFECTS[emo], rng)
                ecg = synth_ecg(
                    seconds,
                    fs,
                    person.hr_bpm + eff.hr_delta_bpm,
                    person.hrv_s * eff.hrv_scale,
                    person.ecg_gain,
                    rng,
                )
                gsr = synth_gsr(
                    seconds,
                    fs,
                    person.scl_us * rng.lognormal(0, 0.1),
                    eff.scr_per_min,
                    person.scr_amp_us * eff.scr_amplitude_scale,
                    rng,
                )
                temp = synth_temp(
                    seconds, fs, person.temp_c + rng.normal(0, 0.1), eff.temp_slope_c_per_min, rng
                )
                block = np.column_stack([ecg, gsr, temp])
                text = "\n".join(f"{a:.4f},{b:.4f},{c:.3f},{emo},p{s:02d}" for a, b, c in block)
                fh.write(text + "\n")
    (folder / "README.md").write_text(
        f"# Simulated seed-layout data\n\n{n_subjects} people x {len(EMOTIONS)} emotions x "
        f"{records_per_emotion} records of {record_length} samples at {fs:g} Hz, written by "
        f"`affectstream simulate --layout seed` (seed {seed}).\n\nRead it with\n"
        f"`affectstream data info {path.name} --record-length {record_length} --fs {fs:g}`.\n\n"
        "Emotion effects (heart rate delta bpm, HRV scale, SCRs per minute, SCR size scale, "
        "temperature trend C/min):\n\n"
        + "\n".join(
            f"- {k}: {v.hr_delta_bpm:+g}, x{v.hrv_scale:g}, {v.scr_per_min:g}, "
            f"x{v.scr_amplitude_scale:g}, {v.temp_slope_c_per_min:+g}"
            for k, v in EFFECTS.items()
        )
        + "\n\nPeople differ more: resting heart rate SD 9 bpm, tonic conductance 1 to 20 uS, "
        "skin temperature SD 1 C.\n"
    )
    return path
