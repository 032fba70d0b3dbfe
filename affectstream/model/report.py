"""The training report: ``report.json``, ``report.md`` and PNG figures beside them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_TITLES = {
    "majority": "majority class",
    "logreg": "logistic regression (features)",
    "forest": "gradient-boosted trees (features)",
    "cnn": "compact CNN (affectstream)",
    "researcher_cnn": "original researcher's CNN",
}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def _figures(report: dict[str, Any], curves: dict[str, list[dict]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    best = report["best_model"]
    classes = report["dataset"]["classes"]
    cm = np.array(report["models"][best]["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.0 * len(classes) + 2))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{norm[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{MODEL_TITLES.get(best, best)}: held-out subjects")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=110)
    plt.close(fig)
    made.append("confusion.png")

    models = list(report["models"])
    subjects = sorted(report["models"][models[0]]["per_subject"])
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(subjects) * len(models) / 2), 4))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        v = [report["models"][m]["per_subject"][s]["balanced_accuracy"] for s in subjects]
        ax.bar(np.arange(len(subjects)) + i * width, v, width, label=MODEL_TITLES.get(m, m))
    ax.axhline(report["chance_level"], color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(np.arange(len(subjects)) + 0.4 - width / 2, subjects, rotation=90, fontsize=7)
    ax.set_ylabel("balanced accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("per held-out subject")
    fig.tight_layout()
    fig.savefig(out / "per_subject.png", dpi=110)
    plt.close(fig)
    made.append("per_subject.png")

    if any(curves.values()):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, name in zip(axes, ("cnn", "researcher_cnn"), strict=True):
            for fi, h in enumerate(curves.get(name, [])):
                ax.plot(h.get("loss", []), color=f"C{fi % 10}", lw=1)
                if "val_loss" in h:
                    ax.plot(h["val_loss"], color=f"C{fi % 10}", lw=1, ls="--")
            ax.set_title(f"{MODEL_TITLES[name]}: loss (solid train, dashed validation)", fontsize=9)
            ax.set_xlabel("epoch")
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=110)
        plt.close(fig)
        made.append("training_curves.png")

    curve = report.get("learning_curve") or []
    if curve:
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        for i, m in enumerate(dict.fromkeys(r["model"] for r in curve)):
            rows = [r for r in curve if r["model"] == m]
            n = [r["n_subjects"] for r in rows]
            ba = np.array([r["balanced_accuracy"] for r in rows])
            sd = np.array([r["sd"] for r in rows])
            ax.errorbar(n, ba, yerr=sd, marker="o", capsize=3, color=f"C{i}", label=MODEL_TITLES[m])
        ax.axhline(report["chance_level"], color="k", ls="--", lw=1, label="chance")
        ax.set_xticks(sorted({r["n_subjects"] for r in curve}))
        ax.set_xlabel("training subjects per fold")
        ax.set_ylabel("balanced accuracy (held out)")
        ax.legend(fontsize=7)
        ax.set_title("learning curve: would more people help?", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "learning_curve.png", dpi=110)
        plt.close(fig)
        made.append("learning_curve.png")
    return made


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _by_label_age(report: dict[str, Any]) -> list[str]:
    """The best model's recall per class by time into the labelled period (when it varies)."""
    rows = report["models"][report["best_model"]].get("by_label_age") or []
    if len({(r["from_s"], r["to_s"]) for r in rows}) < 2:
        return []  # one bin only (e.g. one-minute records): nothing to compare
    lines = [
        "## When in a labelled period the best model errs",
        "",
        "Share of each class's windows predicted right, by how long the labelled period had "
        "lasted when the window began. Low figures early in a period mean the body was still "
        "answering the previous one (arousal outlasting a task, or rising late).",
        "",
        "| class | seconds into the period | windows | right |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        span = f"{r['from_s']:g}+" if r["to_s"] is None else f"{r['from_s']:g}-{r['to_s']:g}"
        lines.append(f"| {r['class']} | {span} | {r['n_windows']} | {_fmt(r['recall'])} |")
    return [*lines, ""]


def _hindsight(report: dict[str, Any]) -> list[str]:
    """Each model as served beside what per-person calibration could reach with hindsight."""
    rows = {m: r for m, r in report["models"].items() if r.get("hindsight")}
    if not rows:
        return []
    lines = [
        "## How far calibration to the person could go (hindsight bounds)",
        "",
        "The same held-out output, calibrated with what a live monitor cannot know: centred on "
        "all of the person's data, future included; and cut at the threshold on the "
        "log-odds that is best for each person, chosen with their labels (two classes only). "
        "These are bounds, not figures a model reaches. The ranking column is the mean over "
        "people of the ROC AUC inside each person's data. A served figure far below the "
        "bounds is the causal calibration's shortfall; bounds that are low too are the "
        "signal's.",
        "",
        "| model | as served | centred on all the person's data | best threshold per person "
        "| within-person AUC |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, r in rows.items():
        h = r["hindsight"]
        lines.append(
            f"| {MODEL_TITLES.get(m, m)} | {_fmt(r['balanced_accuracy'])} | "
            f"{_fmt(h['person_centred'])} | {_fmt(h['best_threshold_per_person'])} | "
            f"{_fmt(h['within_person_auc'])} |"
        )
    return [*lines, ""]


def _learning_curve(report: dict[str, Any]) -> list[str]:
    """The feature models' held-out score by number of training subjects, and what it says."""
    curve = report.get("learning_curve") or []
    if not curve:
        return []
    lines = [
        "## Would more people help? (learning curve)",
        "",
        "The feature models refitted on random subsets of each fold's training subjects (same "
        "folds, same held-out windows; mean and standard deviation over the subsets drawn).",
        "",
        "| model | training subjects | balanced accuracy | sd | subsets |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines.extend(
        f"| {MODEL_TITLES.get(r['model'], r['model'])} | {r['n_subjects']} | "
        f"{_fmt(r['balanced_accuracy'])} | {_fmt(r['sd'])} | {r['repeats']} |"
        for r in curve
    )
    lines.append("")
    for m in dict.fromkeys(r["model"] for r in curve):
        rows = [r for r in curve if r["model"] == m]
        if len(rows) < 3:
            continue
        mid, last = rows[-2], rows[-1]
        gain = last["balanced_accuracy"] - mid["balanced_accuracy"]
        per = gain / max(last["n_subjects"] - mid["n_subjects"], 1)
        lines.append(
            f"- {MODEL_TITLES.get(m, m)}: {gain:+.3f} from {mid['n_subjects']} to "
            f"{last['n_subjects']} training subjects ({per:+.4f} per added person)"
            + (
                ": still rising, more people of this kind should help."
                if gain > max(2 * mid["sd"], 0.01)
                else ": nearly flat, more people of this kind would add little; the limit "
                "is in what the windows carry."
            )
        )
    return [*lines, ""]


def _prevalence_row(name: str, f: dict[str, Any]) -> str:
    sb = f["subject_balanced_accuracy"]
    cd, sh = f["calm_day"], f["stress_heavy"]
    p = f.get("p_value")
    return (
        f"| {name} | **{_fmt(f['balanced_accuracy'])}** | {_fmt(sb['mean'])} "
        f"[{_fmt(sb['ci95'][0])}, {_fmt(sb['ci95'][1])}] | {'-' if p is None else f'{p:.3g}'} "
        f"| {_fmt(f['sensitivity'])} | **{_fmt(cd['false_alarm_rate'])}** "
        f"({_fmt(cd['per_subject_range'][0])} to {_fmt(cd['per_subject_range'][1])}) "
        f"| {_fmt(sh['sensitivity'])} | {_fmt(f['opening_rest_false_alarm_rate'])} |"
    )


def _nested(report: dict[str, Any]) -> list[str]:
    """The headline: the exportable procedure scored nested, with its prevalence checks."""
    n = report.get("nested")
    if not n:
        return []
    if "skipped" in n:
        return ["## Headline (nested selection)", "", f"Skipped: {n['skipped']}.", ""]
    fin = n["final"]
    head = (
        "| procedure | balanced accuracy | per-subject mean [95% CI] | p | sensitivity "
        "| calm-day false alarms (per person) | stress-heavy sensitivity | opening-rest false "
        "alarms |"
    )
    lines = [
        "## Headline: the exported procedure, nested (what the next person gets)",
        "",
        f"Every choice is made inside the training folds: the feature calibration rule and the "
        f"logistic regression's C ({n['n_candidates']} candidates, compared on inner "
        "subject-wise folds), and the operating point, set so that "
        f"{n['false_alarm_target']:.0%} of the inner test people's calm-day windows are called "
        "something else. The outer folds' people are scored on their sessions as recorded, on "
        "a *calm day* (every stress period and the 120 s after it cut out, rest kept with gaps) "
        "and on a *stress-heavy* session (every rest period cut to its first third). "
        f"Windows: {n['windows']['normal']} as recorded, {n['windows']['calm_day']} calm-day, "
        f"{n['windows']['stress_heavy']} stress-heavy. Chance: "
        f"{_fmt(n['procedure']['chance_level'])}.",
        "",
        head,
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        _prevalence_row("nested selection (exported)", n["procedure"]),
        "",
        "Each candidate alone under the same outer folds (its operating point chosen inside; "
        "the best of these is an optimistic figure, the procedure above is not):",
        "",
        head,
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_prevalence_row(c, f) for c, f in n["candidates"].items()]
    if n.get("candidates_at_argmax"):
        lines += [
            "",
            "The same candidates without an operating point (each window called by the larger "
            "probability, as before this release): what the prevalence checks catch.",
            "",
            head,
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [_prevalence_row(c, f) for c, f in n["candidates_at_argmax"].items()]
    lines += [
        "",
        "Choices per outer fold: "
        + "; ".join(f"{f['fold']}: {f['candidate']}" for f in n["folds"])
        + f". On every person (the exported model): {fin['candidate']}, log offset "
        f"{fin['log_offset']:.3f} on `{fin['rest_class']}`.",
        "",
    ]
    return lines


#: The report's first lines when the data has no subject ids.
NO_SUBJECT_IDS = (
    "**No subject ids: the split is by recording.** Records of one person may sit on both "
    "sides of the split, so a model can score by recognising the person rather than the "
    "state: the figures below are an upper bound for new people (like the leaky record-wise "
    "row of the ablation), not what a new person would get. Supply the groups: "
    "`--subject-column NAME` (a column of the table), `--records-per-subject N` (a table "
    "laid out person by person, N records each) or `--groups-file FILE` (each record's "
    "subject id, one line per record)."
)


def _data_lines(report: dict[str, Any]) -> list[str]:
    """The report's opening: the no-subject-ids warning first, then what the data holds."""
    ds = report["dataset"]
    who = (
        f"{ds['n_subjects']} subjects"
        if ds["has_subject_ids"]
        else "no subject ids (each recording is its own group)"
    )
    lines = ["# affectstream training report", ""]
    if not ds["has_subject_ids"]:
        lines += [NO_SUBJECT_IDS, ""]
    lines += [
        f"Data: `{report['data']}`: {ds['n_recordings']} recordings, {who}, "
        f"{ds['n_windows']} windows of {ds['window_s']:g} s every {ds['hop_s']:g} s at "
        f"{ds['model_rate_hz']:g} Hz ({', '.join(ds['channels'])}).",
        f"Windows per class: {ds['windows_per_class']}. Chance level (balanced accuracy): "
        f"{report['chance_level']:.3f}.",
    ]
    return lines


def _split_lines(split: dict[str, Any]) -> list[str]:
    """What the split did and could not do."""
    lines = [
        f"Split: {split.get('method', split['kind'])}, {split['n_folds']} folds, by "
        f"{split['by']}: no {split['by']} is in training and test of a fold, and every "
        "fold's training set holds every class."
    ]
    return lines + [f"- {n}" for n in split.get("notes") or []]


def _stage_lines(report: dict[str, Any]) -> list[str]:
    """Stages that failed (with their errors) and stages skipped or shrunk, and why."""
    lines: list[str] = []
    if report.get("errors"):
        lines += ["## Stages that failed", ""]
        lines += [
            f"- **{e['stage']}**: `{e['error']}`. The rest of this report is what finished."
            for e in report["errors"]
        ]
        lines.append("")
    if report.get("skipped"):
        lines += ["## Stages skipped", ""] + [f"- {s}" for s in report["skipped"]] + [""]
    return lines


def _networks(report: dict[str, Any], curves: dict[str, list[dict]] | None) -> list[str]:
    """Why each network does what it does, in its own numbers: parameters against training
    windows, and what it reached on its training windows, its validation windows and the
    held-out people."""
    nets = report.get("networks") or {}
    if not nets or not curves:
        return []
    lines = ["## What the networks learned (from their own training curves)", ""]
    for name, info in nets.items():
        hist = curves.get(name) or []
        if not hist or name not in report["models"]:
            continue
        train = [h["accuracy"][-1] for h in hist if h.get("accuracy")]
        val_key = "val_accuracy" if any(h.get("val_accuracy") for h in hist) else None
        if name == "cnn" and val_key:  # early stopping restored the best validation epoch
            at = [int(np.argmin(h["val_loss"])) for h in hist]
            train = [h["accuracy"][i] for h, i in zip(hist, at, strict=True)]
            val = [h[val_key][i] for h, i in zip(hist, at, strict=True)]
        else:
            val = [h[val_key][-1] for h in hist] if val_key else []
        held = report["models"][name]["balanced_accuracy"]
        unseen = info.get("validation_classes_unseen", 0)
        ratio = info["parameters"] / max(info["windows"], 1)
        text = (
            f"- {MODEL_TITLES.get(name, name)}: {info['parameters']:,} parameters for "
            f"{info['windows']} training windows per fold ({ratio:,.0f} per window). "
            f"Accuracy on its own training windows {_fmt(float(np.mean(train)))}"
            + (f", on its validation windows {_fmt(float(np.mean(val)))}" if val else "")
            + f"; balanced accuracy on the held-out {report['split']['by']}s {_fmt(held)} "
            f"(chance {report['chance_level']:.3f})."
        )
        if train and np.mean(train) > 0.9 and held < report["chance_level"] + 0.1:
            text += (
                " It memorised the training windows (each window's own noise and the "
                "people in it) and learned nothing that carries to people it has not seen: "
                "with this many parameters per window, fitting the training set says nothing."
            )
        elif held < report["chance_level"] + 0.1:
            text += (
                " It did not find the effect even on its training windows in the epochs "
                + (
                    "its fixed recipe gives"
                    if name == "researcher_cnn"
                    else "early stopping allowed"
                )
                + ": too few windows for a network to learn from the raw frames what the "
                "hand-made features measure directly."
            )
        if unseen:
            text += (
                f" Its validation figure is not a random 20 %: Keras' `validation_split` takes "
                f"the last 20 % of the training windows, which here held {unseen} class(es) "
                "absent from the 80 % it trained on (the records are in label order)."
            )
        lines.append(text)
    return [*lines, "", "Loss per epoch: `training_curves.png`.", ""]


def markdown(
    report: dict[str, Any], figures: list[str], curves: dict[str, list[dict]] | None = None
) -> str:
    """The report as Markdown."""
    lines = [
        *_data_lines(report),
        *_split_lines(report["split"]),
        f"Calibration: {report['calibration']}.",
        "",
        *_stage_lines(report),
    ]
    if report["warnings"]:
        lines += ["## Warnings", ""] + [f"- **{w}**" for w in report["warnings"]] + [""]
    lines += _nested(report)
    centred = any("uncentred" in r for r in report["models"].values())
    lines += [
        "## Held-out results, every model under the table's fixed rule"
        + (" (for comparison: not nested, at argmax)" if report.get("nested") else ""),
        "",
        "| model | balanced accuracy | macro-F1 | per-subject mean [95% CI] | p (permutation) "
        "| time (s) |" + (" output not centred |" if centred else ""),
        "| --- | --- | --- | --- | --- | --- |" + (" --- |" if centred else ""),
    ]
    for m, r in report["models"].items():
        ci = r["subject_balanced_accuracy"]
        mark = " **(best)**" if m == report["best_model"] else ""
        lines.append(
            f"| {MODEL_TITLES.get(m, m)}{mark} | {_fmt(r['balanced_accuracy'])} | "
            f"{_fmt(r['macro_f1'])} | {_fmt(ci['mean'])} [{_fmt(ci['ci95'][0])}, "
            f"{_fmt(ci['ci95'][1])}] | {r['p_value']:.3g} | {r['wall_time_s']:.0f} |"
            + (
                f" {_fmt(r['uncentred']['balanced_accuracy'])} |"
                if "uncentred" in r
                else " |"
                if centred
                else ""
            )
        )
    if centred:
        lines += [
            "",
            "Each person's model output is centred on their own mean so far (calibration "
            "`centre_output`, as the live monitor serves it); the last column is the balanced "
            "accuracy of the same held-out predictions without that step. Centring helps "
            "some people and costs others (balanced accuracy moved by more than 0.01): "
            + "; ".join(
                f"{MODEL_TITLES.get(m, m)} {r['uncentred']['subjects_better']} better, "
                f"{r['uncentred']['subjects_worse']} worse"
                for m, r in report["models"].items()
                if "subjects_better" in r.get("uncentred", {})
            )
            + ".",
        ]
    best = report["models"][report["best_model"]]
    verdict = (
        "The best model is above chance with p = "
        f"{best['p_value']:.3g}: the signal carries information about the labels for people the "
        "model has not seen."
        if best["p_value"] < 0.05
        else f"The best model is not distinguishable from chance (p = {best['p_value']:.3g}): "
        "on this data the signal does not show that it carries the labels for new people."
    )
    lines += ["", verdict, "", f"p-values: {report['permutation_test']}.", ""]
    lines += _networks(report, curves)
    lines += _by_label_age(report)
    lines += _hindsight(report)
    lines += _learning_curve(report)
    if report["ablation"]:
        lines += [
            "## What the split and calibration change (feature models)",
            "",
            "| split | calibration | model | balanced accuracy | macro-F1 |",
            "| --- | --- | --- | --- | --- |",
        ]
        for a in report["ablation"]:
            model = MODEL_TITLES.get(a.get("model", "logreg"), a.get("model", "logreg"))
            lines.append(
                f"| {a['split']} | {a['calibration']} | {model} | "
                f"{_fmt(a['balanced_accuracy'])} | {_fmt(a['macro_f1'])} |"
            )
        lines += [
            "",
            "A record-wise split lets windows of the same person (and session) sit in "
            "training and test; its figure is what a leaky evaluation would have claimed. "
            "Calibration `baseline` uses the person's first minutes, `running` the person's data "
            "so far (both causal, as the live monitor does), `rest` the first minutes and the "
            "person's rest periods that ended before the window (causal, but it uses the rest "
            "labels of the person under test: an operator must mark them), `subject` the "
            "person's whole session including the future (transductive: an upper reference, not "
            "a live figure).",
            "",
        ]
    if report.get("exportable"):
        saved = report["exportable"]
        nested = (report.get("nested") or {}).get("procedure") and "logreg" in saved
        top = "logreg" if nested else max(saved, key=saved.get)
        why = (
            "whose procedure was scored nested, at its operating point, with the prevalence "
            "checks (its figure above is that one)"
            if nested
            else "the better by cross-validated balanced accuracy"
        )
        lines += [
            "## Export",
            "",
            "Saved for `affectstream export DIR --out MODEL`: "
            + ", ".join(f"{MODEL_TITLES.get(m, m)} ({_fmt(v)})" for m, v in saved.items())
            + f". By default export takes the {MODEL_TITLES.get(top, top)}, {why}; `--model` "
            "names another.",
            "",
        ]
        at_chance = [
            m
            for m in saved
            if report["models"][m]["p_value"] >= 0.05
            or report["models"][m]["balanced_accuracy"] <= report["chance_level"]
        ]
        if at_chance:
            lines += [
                "**Not distinguishable from chance:** "
                + ", ".join(
                    f"{MODEL_TITLES.get(m, m)} (p = {report['models'][m]['p_value']:.3g})"
                    for m in at_chance
                )
                + f". The best model of this run is the {MODEL_TITLES.get(report['best_model'])}"
                "; a bundle exported from a model at chance runs, but its predictions carry "
                "nothing about the labels.",
                "",
            ]
    if report.get("not_exported"):
        what = "Not saved for export" if report.get("exportable") else "Nothing saved for export"
        lines += ([] if report.get("exportable") else ["## Export", ""]) + [
            f"{what}: {report['not_exported']}.",
            "",
        ]
    lines += [
        "## Per subject (balanced accuracy)",
        "",
        "| subject | windows | " + " | ".join(report["models"]) + " |",
        "| --- | --- | " + " | ".join("---" for _ in report["models"]) + " |",
    ]
    first = next(iter(report["models"].values()))
    for s, row in first["per_subject"].items():
        vals = " | ".join(
            _fmt(report["models"][m]["per_subject"][s]["balanced_accuracy"])
            for m in report["models"]
        )
        lines.append(f"| {s} | {row['n_windows']} | {vals} |")
    if report.get("predictions"):
        lines += [
            "",
            f"Every window's held-out prediction, per model: `{report['predictions']}` (subject, "
            "session, window start and end in seconds, fold, true label, seconds into the "
            "labelled period, and each model's predicted class and class probabilities).",
        ]
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    lines += ["", f"Total wall time: {report.get('wall_time_s', 0):.0f} s.", ""]
    return "\n".join(lines)


def write_predictions(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Write equal-length ``columns`` (name -> one value per window) as a CSV file; floats with
    six significant digits."""
    import csv

    names = list(columns)
    n = {len(v) for v in columns.values()}
    if len(n) > 1:
        raise ValueError(f"prediction columns differ in length: {sorted(n)}")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*(columns[c] for c in names), strict=True):
            w.writerow(f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in row)


def write_report(report: dict[str, Any], curves: dict[str, list[dict]], out: Path) -> None:
    """Write ``report.json``, the figures and ``report.md`` into ``out``; a figure that fails
    is recorded in ``report["errors"]`` and the report is written without it."""
    from affectstream.model.stages import run_stage

    errors = report.setdefault("errors", [])
    none: list[str] = []
    figures = run_stage(
        "figures", lambda: _figures(report, curves, out), errors, lambda _m: None, none
    )
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    (out / "report.md").write_text(markdown(report, figures, curves))


def dataset_summary(ws: Any, n_recordings: int) -> dict[str, Any]:
    """The report's ``dataset`` entry: what the windows ``ws`` (a WindowSet) hold."""
    return {
        "n_recordings": n_recordings,
        "n_subjects": int(np.unique(ws.subject).size),
        "subjects": sorted(map(str, np.unique(ws.subject))),
        "has_subject_ids": ws.has_subject_ids,
        "n_windows": len(ws),
        "windows_per_class": ws.counts(),
        "classes": ws.classes,
        "channels": ws.channel_names,
        "model_rate_hz": ws.rate,
        "window_s": ws.window_s,
        "hop_s": ws.hop_s,
    }


def write_refusal(
    out: Path,
    data: str,
    n_recordings: int,
    ws: Any,
    warnings: Sequence[str],
    reason: str,
) -> None:
    """The report of a run whose split was refused: what the data holds and why no held-out
    figure can be made (``report.json`` with ``"refused"``, and ``report.md``)."""
    report = {
        "data": data,
        "dataset": dataset_summary(ws, n_recordings),
        "chance_level": 1.0 / len(ws.classes),
        "refused": reason,
        "warnings": list(warnings),
    }
    lines = [
        *_data_lines(report),
        "",
        "## No held-out evaluation: the split was refused",
        "",
        f"**{reason}.**",
        "",
        "No model was trained: a figure from folds whose training sets lack a class would score "
        "that class 0 and say nothing about the rest.",
        "",
    ]
    if warnings:
        lines += ["## Warnings", ""] + [f"- **{w}**" for w in warnings] + [""]
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    (out / "report.md").write_text("\n".join(lines))
