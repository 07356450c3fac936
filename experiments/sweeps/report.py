"""The analysis of a sweep, offline: best configuration, trials CSV, plots and one HTML page.

Files written into the report folder:

``best.json``           the best trial: its parameters, validation accuracy, run name, and the
                        ``train.py`` command that retrains it
``trials.csv``          every trial: number, state, validation accuracy, seconds, parameters
``history.png``         validation accuracy of each trial over time, the running best and a
                        trend line
``parallel.png``        parallel coordinates of the parameters, coloured by validation accuracy
``importance.png``      parameter importance (Optuna's PED-ANOVA) for validation accuracy
``analysis.json``       importances, correlations and, per parameter value, the number of
                        trials and their mean and best validation accuracy
``correlation.png``     correlation of each parameter (categorical ones one-hot, per level) with
                        validation accuracy, as W&B's sweep panel shows it
``index.html``          all of the above on one page

Over 400 lines: one short function per file above, and the HTML page that shows them all.
"""

import csv
import html
import json
from pathlib import Path

import numpy as np

from ..config import command
from ..report.figures import pyplot, save
from .sampling import decode_choice
from .trials import counted

PLOTS = ("history.png", "parallel.png", "importance.png", "correlation.png")
LOG_SCALE = {"learning_rate", "weight_decay", "epsilon"}


def trial_rows(study):
    """One dict per trial, in trial order, with decoded parameter values."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "val_accuracy": t.value
                if t.value is not None
                else (max(t.intermediate_values.values()) if t.intermediate_values else None),
                "completed_epochs": len(t.intermediate_values),
                "seconds": (t.duration.total_seconds() if t.duration else None),
                "started": t.datetime_start.timestamp() if t.datetime_start else None,
                "run_name": t.user_attrs.get("run_name", ""),
                "failure": t.user_attrs.get("failure", ""),
                "overhead_seconds": (
                    t.user_attrs["seconds"]
                    - t.user_attrs["train_seconds"]
                    - t.user_attrs.get("compile_seconds", 0.0)
                )
                if "seconds" in t.user_attrs
                else None,
                "params": {k: decode_choice(v) for k, v in t.params.items()},
                "duplicate_of": t.user_attrs.get("duplicate_of"),
                "counted": counted(t),
            }
        )
    return rows


def train_command(base, params):
    """The ``train.py`` command that retrains ``params`` on ``base``'s data folder."""
    config = base.replace(**params)
    return command(config, names=(["data_dir"] if base.data_dir else []) + list(params))


def write_csv(path, rows, names):
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "number",
                "state",
                "val_accuracy",
                "completed_epochs",
                "seconds",
                "overhead_seconds",
                "run_name",
                *names,
                "failure",
            ]
        )
        for r in rows:
            out.writerow(
                [
                    r["number"],
                    r["state"],
                    "" if r["val_accuracy"] is None else f"{r['val_accuracy']:.4f}",
                    r["completed_epochs"],
                    "" if r["seconds"] is None else f"{r['seconds']:.2f}",
                    "" if r["overhead_seconds"] is None else f"{r['overhead_seconds']:.3f}",
                    r["run_name"],
                    *(r["params"].get(n, "") for n in names),
                    r["failure"],
                ]
            )


def plot_history(path, rows):
    plt = pyplot()
    done = [r for r in rows if r["state"] == "COMPLETE" and r["started"] is not None]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if done:
        t0 = min(r["started"] for r in rows if r["started"] is not None)
        minutes = np.array([(r["started"] - t0) / 60 for r in done])
        acc = np.array([r["val_accuracy"] for r in done]) * 100
        ax.scatter(minutes, acc, s=18, label="completed trial")
        ax.plot(minutes, np.maximum.accumulate(acc), color="C2", label="best so far")
        if len(done) >= 5:
            # Trend: median of the last five completed trials, robust to the odd failure.
            window = 5
            trend = [np.median(acc[max(0, i - window + 1) : i + 1]) for i in range(len(acc))]
            ax.plot(minutes, trend, "--", color="C3", label=f"trend (median of last {window})")
        pruned = [r for r in rows if r["state"] == "PRUNED" and r["val_accuracy"] is not None]
        if pruned:
            ax.scatter(
                [(r["started"] - t0) / 60 for r in pruned],
                [r["val_accuracy"] * 100 for r in pruned],
                s=12,
                marker="x",
                color="grey",
                label="pruned (accuracy when stopped)",
            )
        low = np.percentile(acc, 10) if len(acc) > 5 else acc.min()
        ax.set_ylim(max(0, low - 2), min(100, acc.max() + 1))
    ax.set_xlabel("minutes since the sweep started")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Validation accuracy per trial over time")
    ax.legend(loc="lower right", fontsize=8)
    save(fig, path)


def _numeric_columns(rows, names):
    """Each parameter as numbers, with its labels: ``None`` for a plain numeric column,
    ``"log"`` for a log10 one (positive learning rates, ...), the levels for a categorical
    one (encoded as the level's index)."""
    columns, labels = {}, {}
    for name in names:
        values = [r["params"].get(name) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            arr = np.array(values, dtype=float)
            if name in LOG_SCALE and np.all(arr > 0):
                columns[name], labels[name] = np.log10(arr), "log"
            else:
                columns[name], labels[name] = arr, None
        else:
            levels = sorted({json.dumps(v) for v in values})
            columns[name] = np.array([levels.index(json.dumps(v)) for v in values], dtype=float)
            labels[name] = [json.loads(level) for level in levels]
    return columns, labels


def plot_parallel(path, rows, names):
    plt = pyplot()
    done = [r for r in rows if r["state"] == "COMPLETE"]
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * (len(names) + 1)), 5))
    if done and names:
        columns, labels = _numeric_columns(done, names)
        acc = np.array([r["val_accuracy"] for r in done])
        axes_names = [*names, "val_accuracy"]
        data = np.column_stack([columns[n] for n in names] + [acc])
        low, high = data.min(axis=0), data.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        scaled = (data - low) / span
        # Colour by rank, so one collapsed trial does not wash out the differences at the top.
        order = np.argsort(acc)
        colors = plt.cm.viridis(np.linspace(0, 1, len(acc)))
        for row, color in zip(scaled[order], colors):
            ax.plot(range(len(axes_names)), row, color=color, alpha=0.6, lw=1)
        for i, name in enumerate(axes_names):
            ax.axvline(i, color="black", lw=0.8)
            kind = labels.get(name)
            if isinstance(kind, list):
                for k, level in enumerate(kind):
                    ax.text(i + 0.03, (k - low[i]) / span[i], str(level), fontsize=7, va="center")
            else:
                for y, value in ((0, low[i]), (1, high[i])):
                    shown = 10**value if kind == "log" else value
                    ax.text(i + 0.03, y, f"{shown:.3g}", fontsize=7, va="center")
        ax.set_xticks(range(len(axes_names)), axes_names, rotation=20)
        ax.set_yticks([])
    ax.set_title(
        "Parallel coordinates of completed trials (colour: rank by validation accuracy, "
        "yellow = best)"
    )
    save(fig, path)


def importances(study):
    """Optuna's PED-ANOVA importances of the completed trials ({} when too few).

    PED-ANOVA (Watanabe et al., 2023) needs no scikit-learn, unlike fANOVA; it
    measures how much each parameter's distribution among the top 10% of trials
    differs from its distribution among all of them."""
    import optuna

    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    if len(complete) < 3:
        return {}
    try:
        return optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
        )
    except (RuntimeError, ValueError):  # e.g. every parameter constant
        return {}


def _bar_chart(path, values, title, xlabel, signed):
    """Horizontal bars of ``values`` (largest first); green/red by sign when ``signed``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(values), 3) + 1.2))
    if values:
        names = list(values)[::-1]
        colors = ["C2" if values[n] > 0 else "C3" for n in names] if signed else "C0"
        ax.barh(names, [values[n] for n in names], color=colors)
        if signed:
            ax.axvline(0, color="black", lw=0.8)
            ax.set_xlim(-1, 1)
        ax.set_xlabel(xlabel)
    else:
        ax.text(0.5, 0.5, "too few completed trials", ha="center", transform=ax.transAxes)
    ax.set_title(title)
    save(fig, path)


def correlations(rows, names):
    """Pearson correlation with validation accuracy: numeric parameters directly (log10 for
    learning rate, weight decay, epsilon), categorical ones per level as a 0/1 indicator."""
    done = [r for r in rows if r["state"] == "COMPLETE"]
    if len(done) < 3:
        return {}
    acc = np.array([r["val_accuracy"] for r in done])
    out = {}
    columns, labels = _numeric_columns(done, names)
    for name in names:
        if not isinstance(labels[name], list):
            pairs = [(name, columns[name])]
        else:
            pairs = [
                (f"{name}={level}", (columns[name] == k).astype(float))
                for k, level in enumerate(labels[name])
            ]
        for label, x in pairs:
            if np.std(x) > 0 and np.std(acc) > 0:
                out[label] = float(np.corrcoef(x, acc)[0, 1])
    return dict(sorted(out.items(), key=lambda kv: -abs(kv[1])))


def _groups(rows, name, bins=3):
    """``(label, rows)`` per value of a parameter; a numeric one with many distinct values
    (drawn from a distribution) is split into ``bins`` equal-count ranges instead."""
    values = [r["params"].get(name) for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(set(values)) > 2 * bins:
        edges = np.quantile(values, np.linspace(0, 1, bins + 1))
        for b in range(bins):
            lo, hi = edges[b], edges[b + 1]
            inside = [
                r for r, v in zip(rows, values) if lo <= v < hi or (b == bins - 1 and v == hi)
            ]
            yield f"{lo:.3g}..{hi:.3g}", inside
        return
    for level in sorted({json.dumps(v) for v in values}):
        yield json.loads(level), [r for r, v in zip(rows, values) if json.dumps(v) == level]


def level_summary(rows, names):
    """For each parameter value: trials, completed, pruned or failed, mean and best
    validation accuracy of the completed ones (the numbers behind the insights)."""
    out = []
    for name in names:
        for label, group in _groups(rows, name):
            acc = [r["val_accuracy"] for r in group if r["state"] == "COMPLETE"]
            out.append(
                {
                    "parameter": name,
                    "value": label,
                    "trials": len(group),
                    "completed": len(acc),
                    "stopped_early_or_failed": len(group) - len(acc),
                    "mean_val_accuracy": float(np.mean(acc)) if acc else None,
                    "best_val_accuracy": float(np.max(acc)) if acc else None,
                }
            )
    return out


def _levels_html(levels):
    def pct(v):
        return "-" if v is None else f"{v:.2%}"

    body = "".join(
        f"<tr><td>{html.escape(l['parameter'])}</td><td>{html.escape(str(l['value']))}</td>"
        f"<td>{l['trials']}</td><td>{l['completed']}</td><td>{l['stopped_early_or_failed']}</td>"
        f"<td>{pct(l['mean_val_accuracy'])}</td><td>{pct(l['best_val_accuracy'])}</td></tr>"
        for l in levels
    )
    return (
        "<h2>Each setting</h2><table><tr><th>parameter</th><th>value</th><th>trials</th>"
        "<th>completed</th><th>pruned/failed</th><th>mean val acc</th><th>best val acc</th>"
        f"</tr>{body}</table>"
    )


def write_html(path, title, best, rows, names, importance, correlation, levels=()):
    done = sorted((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: -r["val_accuracy"])
    counts = {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "PRUNED", "FAIL")}
    top = "".join(
        "<tr>"
        + f"<td>{r['number']}</td><td>{r['val_accuracy']:.2%}</td>"
        + "".join(f"<td>{html.escape(str(r['params'].get(n, '')))}</td>" for n in names)
        + "</tr>"
        for r in done[:15]
    )
    best_html = (
        f"<p><b>Best validation accuracy: {best['val_accuracy']:.2%}</b> (trial "
        f"{best['number']}, <code>{html.escape(best['run_name'])}</code>)</p>"
        f"<p>Retrain it: <code>{html.escape(best['train_command'])}</code></p>"
        if best
        else "<p>No completed trial yet.</p>"
    )
    images = "".join(f'<figure><img src="{p}" alt="{p}"></figure>' for p in PLOTS)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>{len(rows)} trials: {counts["COMPLETE"]} completed, {counts["PRUNED"]} pruned, {counts["FAIL"]} failed.
Objective: validation accuracy (the test set is never read in a sweep).</p>
{best_html}
{images}
{_levels_html(levels)}
<h2>Top trials</h2><table><tr><th>#</th><th>val acc</th>{"".join(f"<th>{n}</th>" for n in names)}</tr>{top}</table>
<p>All trials: <a href="trials.csv">trials.csv</a>; best: <a href="best.json">best.json</a>.</p>
</body></html>
"""
    Path(path).write_text(page)


def write_report(study, spec, out_dir, base):
    """Write every report file for ``study`` into ``out_dir``; returns the best dict (or None).

    ``base`` is the sweep's RunConfig (the best trial's command names its data folder).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_rows = trial_rows(study)
    # Only the trials --count counts: not re-proposals of a trained configuration (never
    # trained again), nor trials still running or queued, nor failures that are retried.
    rows = [r for r in all_rows if r["counted"]]
    names = [n for n, p in spec.parameters.items() if not (p.is_categorical and len(p.values) == 1)]
    done = [r for r in rows if r["state"] == "COMPLETE"]
    duplicates = sum(r["duplicate_of"] is not None for r in all_rows)
    best = best_trial(spec, base, rows, done, duplicates)
    if best:
        (out_dir / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    write_csv(out_dir / "trials.csv", rows, names)
    plot_history(out_dir / "history.png", rows)
    plot_parallel(out_dir / "parallel.png", done, names)
    importance = importances(study)
    _bar_chart(
        out_dir / "importance.png",
        importance,
        "Parameter importance",
        "importance for validation accuracy (PED-ANOVA)",
        signed=False,
    )
    correlation = correlations(rows, names)
    _bar_chart(
        out_dir / "correlation.png",
        correlation,
        "Correlation of each parameter with validation accuracy",
        "correlation with validation accuracy",
        signed=True,
    )
    levels = level_summary(rows, names)
    analysis = {"importance": importance, "correlation": correlation, "levels": levels}
    (out_dir / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
    write_html(
        out_dir / "index.html",
        f"Sweep {study.study_name}",
        best,
        rows,
        names,
        importance,
        correlation,
        levels,
    )
    return best


def best_trial(spec, base, rows, done, duplicates):
    """best.json's content: the completed trial with the best validation accuracy, its full
    configuration (the spec's fixed values included) and the command that retrains it."""
    if not done:
        return None
    fixed = {
        n: p.values[0]
        for n, p in spec.parameters.items()
        if p.is_categorical and len(p.values) == 1
    }
    top = max(done, key=lambda r: r["val_accuracy"])
    params = {**fixed, **top["params"]}
    overheads = [r["overhead_seconds"] for r in done if r["overhead_seconds"] is not None]
    return {
        "number": top["number"],
        "val_accuracy": top["val_accuracy"],
        "params": params,
        "run_name": top["run_name"],
        "train_command": train_command(base, params),
        "trials": len(rows),
        "completed": len(done),
        "duplicate_proposals": duplicates,
        "median_trial_overhead_seconds": float(np.median(overheads)) if overheads else None,
    }
