"""A study's report: `DIR/NAME.md` (tables laid out like the paper's, its numbers beside ours), `.csv`,
`.json` and a figure `.png`, each written atomically; every report states the budget and each run's
wall time."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Callable

import numpy as np

from keras_durbm.atomic_files import atomic_path, write_json_atomic, write_text_atomic
from keras_durbm.config.topology import TABLE2_DESIGNS
from keras_durbm.studies import definitions as d
from keras_durbm.studies.plan import RunSpec
from keras_durbm.studies.runner import StudyContext

SHORT = {"motion_blur": "B", "haze": "H", "rain": "R", "jpeg": "J"}


@dataclasses.dataclass
class Table:
    """Rows of a report, one dict per row, the columns in order."""

    columns: list[str]
    rows: list[dict]
    notes: list[str] = dataclasses.field(default_factory=list)
    extra: dict = dataclasses.field(default_factory=dict)  # numbers for the JSON beyond the table
    figure: Callable[[str], None] | None = None


def _fmt(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4f}" if abs(value) < 1.5 else f"{value:.2f}"
    return "–" if value is None else str(value)


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in table.columns) + " |" for row in table.rows]
    return "\n".join(lines)


def _score(result: dict, task: str, key: str) -> float:
    return float(result["scores"][task][key]) if task in result["scores"] else float("nan")


def _average(result: dict, tasks, key: str) -> float:
    return float(np.mean([_score(result, t, key) for t in tasks]))


def _ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def _figure(path: str, groups: list[str], panels: dict[str, dict[str, list[float]]], ylabel: str, title: str,
            twin: str | None = None) -> None:
    """One bar panel per entry of `panels` (title -> {series: values per group}); the series named `twin`
    (the paper's numbers, on another scale than ours) gets its own right-hand axis in every panel."""
    import matplotlib  # optional heavy dependency, only for the figures

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rotate = max(len(g) for g in groups) > 6 or len(groups) > 6
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.5, 0.75 * len(groups) + 2) * len(panels), 4.2),
                             squeeze=False)
    for ax, (panel, series) in zip(axes[0], panels.items(), strict=True):
        width = 0.8 / len(series)
        x = np.arange(len(groups))
        handles, limits = [], {}
        right = ax.twinx() if twin in series else None
        for i, (name, values) in enumerate(series.items()):
            axis = right if name == twin else ax
            values = np.asarray(values, float)
            handles.append(axis.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name,
                                    color=f"C{i}", alpha=0.85))
            limits.setdefault(id(axis), [axis, []])[1].extend(values[np.isfinite(values)].tolist())
        for axis, values in limits.values():
            if values:
                low, high = min(values), max(values)
                pad = max(0.3, 0.2 * (high - low))
                axis.set_ylim(low - pad, high + pad)
        ax.set_ylabel(ylabel if right is None else f"{ylabel}, ours")
        if right is not None:
            right.set_ylabel(f"{ylabel}, {twin}")
        ax.set_xticks(x, groups, rotation=35 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
        ax.set_title(panel, fontsize=9)
        ax.legend(handles=handles, loc="upper left", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _per_task_columns(tasks) -> list[str]:
    return [f"{SHORT[t]} {k}" for t in tasks for k in ("PSNR", "SSIM")]


def _per_task_cells(result: dict, tasks) -> dict:
    return {f"{SHORT[t]} {k.upper()}": _score(result, t, k) for t in tasks for k in ("psnr", "ssim")}


def topologies_table(context: StudyContext, results: dict[str, dict]) -> Table:
    from scipy.stats import spearmanr

    rows = []
    for run in context.runs:
        result = results[run.id]
        rows.append({"design": run.label, **_per_task_cells(result, d.THREE),
                     "avg PSNR": _average(result, d.THREE, "psnr"), "avg SSIM": _average(result, d.THREE, "ssim"),
                     "paper avg PSNR": TABLE2_DESIGNS[run.label][0], "paper avg SSIM": TABLE2_DESIGNS[run.label][1]})
    ours, paper = [r["avg PSNR"] for r in rows], [r["paper avg PSNR"] for r in rows]
    for row, a, b in zip(rows, _ranks(ours), _ranks(paper), strict=True):
        row["rank"], row["paper rank"] = a, b
    if len(set(ours)) > 1:
        rho, p_value = (float(v) for v in spearmanr(ours, paper))
        correlation = f"ρ = {rho:.3f} (p = {p_value:.3f}, {len(rows)} designs)"
    else:
        rho = p_value = None
        correlation = "undefined: every design scored the same here"
    best = rows[int(np.argmax(ours))]["design"]
    notes = [f"Best design here: **{best}** (the paper's: R>B>H, 30.79 / 0.9246).",
             f"Spearman rank correlation of the two rankings (average PSNR): {correlation}."]

    def figure(path):
        _figure(path, [r["design"] for r in rows], {"average over B, H, R": {"ours": ours, "paper": paper}},
                "PSNR (dB)", "Table 2: average PSNR per design, ours beside the paper's", twin="paper")

    return Table(["design", *_per_task_columns(d.THREE), "avg PSNR", "avg SSIM", "paper avg PSNR", "paper avg SSIM",
                  "rank", "paper rank"], rows, notes, {"spearman_rho": rho, "spearman_p": p_value, "best": best},
                 figure)


def four_task_table(context: StudyContext, results: dict[str, dict]) -> Table:
    rows = [{"design": run.label, **_per_task_cells(results[run.id], d.FOUR),
             "avg PSNR": _average(results[run.id], d.FOUR, "psnr"), "avg SSIM": _average(results[run.id], d.FOUR, "ssim")}
            for run in context.runs]
    best = rows[int(np.argmax([r["avg PSNR"] for r in rows]))]["design"]
    for row in rows:
        row["winner"] = "yes" if row["design"] == best else ""
    notes = [f"J added to {context.settings.base}: the best design here is **{best}**; the paper found "
             f"**{d.PAPER_FOUR_TASK_WINNER}**."]

    def figure(path):
        _figure(path, [r["design"] for r in rows], {"average over B, H, R, J": {"ours": [r["avg PSNR"] for r in rows]}},
                "PSNR (dB)", f"Section 5.3: adding J to {context.settings.base}")

    return Table(["design", *_per_task_columns(d.FOUR), "avg PSNR", "avg SSIM", "winner"], rows, notes,
                 {"best": best, "paper_best": d.PAPER_FOUR_TASK_WINNER}, figure)


def ablation_table(context: StudyContext, results: dict[str, dict]) -> Table:
    rows = []
    for run, (switches, _) in zip(context.runs, d.ABLATION_ROWS, strict=True):
        row = {"TV": "✓" if switches[0] else "", "GAP": "✓" if switches[1] else "",
               "Fusion": "✓" if switches[2] else "", **_per_task_cells(results[run.id], d.THREE)}
        row.update({f"paper {SHORT[t]} PSNR": d.PAPER_ABLATION_PSNR[switches][t] for t in d.THREE})
        rows.append(row)

    def figure(path):
        labels = [d.ablation_label(s) for s, _ in d.ABLATION_ROWS]
        panels = {t: {"ours": [r[f"{SHORT[t]} PSNR"] for r in rows],
                      "paper": [r[f"paper {SHORT[t]} PSNR"] for r in rows]} for t in d.THREE}
        _figure(path, labels, panels, "PSNR (dB)", "Table 3 ablation: PSNR per task and row", twin="paper")

    return Table(["TV", "GAP", "Fusion", *_per_task_columns(d.THREE), *(f"paper {SHORT[t]} PSNR" for t in d.THREE)],
                 rows, [f"Design {context.settings.design}, batch {context.base.data.batch_size}."], {}, figure)


def multitask_table(context: StudyContext, results: dict[str, dict]) -> Table:
    joint = results["multitask-joint"]
    rows = []
    for task in d.THREE:
        alone = results[f"multitask-{task}"]
        rows.append({"task": task, "alone PSNR": _score(alone, task, "psnr"), "alone SSIM": _score(alone, task, "ssim"),
                     "joint PSNR": _score(joint, task, "psnr"), "joint SSIM": _score(joint, task, "ssim"),
                     "Δ PSNR": _score(joint, task, "psnr") - _score(alone, task, "psnr"),
                     "paper alone": f"{d.PAPER_SINGLE[task][0]:.2f} / {d.PAPER_SINGLE[task][1]:.4f}",
                     "paper joint": f"{d.PAPER_JOINT[task][0]:.2f} / {d.PAPER_JOINT[task][1]:.4f}",
                     "paper Δ PSNR": d.PAPER_JOINT[task][0] - d.PAPER_SINGLE[task][0]})

    def figure(path):
        panels = {r["task"]: {"ours": [r["alone PSNR"], r["joint PSNR"]],
                              "paper": [d.PAPER_SINGLE[r["task"]][0], d.PAPER_JOINT[r["task"]][0]]} for r in rows}
        _figure(path, ["alone", "joint"], panels, "PSNR (dB)", "Table 3: each task alone vs jointly, same network",
                twin="paper")

    return Table(["task", "alone PSNR", "alone SSIM", "joint PSNR", "joint SSIM", "Δ PSNR", "paper alone",
                  "paper joint", "paper Δ PSNR"], rows,
                 [f"Design {context.settings.design}; 'alone' trains only that head (the others are untrained, "
                  "data.skip_heads); every run has the same budget."], {}, figure)


def features_table(context: StudyContext, analysis: dict) -> Table:
    rows = [{"layer": layer["layer"], "module": layer["module"], "features": layer["dims"],
             "probe accuracy": layer["accuracy"], "shuffled labels": layer["shuffled"], "chance": analysis["chance"]}
            for layer in analysis["layers"]]

    def figure(path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(analysis["layers"]), figsize=(3.2 * len(analysis["layers"]), 3.6))
        labels = np.asarray(analysis["labels"])
        for ax, layer in zip(np.atleast_1d(axes), analysis["layers"], strict=True):
            points = np.asarray(layer["tsne"])
            for i, task in enumerate(analysis["tasks"]):
                mask = labels == task
                ax.scatter(points[mask, 0], points[mask, 1], s=9, color=f"C{i}", label=task)
            ax.set_title(f"{layer['layer']}\nk-NN accuracy {layer['accuracy']:.2f}", fontsize=9)
            ax.set_xlabel("t-SNE 1")
            ax.set_ylabel("t-SNE 2")
            ax.tick_params(labelsize=6)
        np.atleast_1d(axes)[0].legend(fontsize=7, loc="best")
        fig.suptitle("Fig. 9: t-SNE of per-channel mean and total variation of the encoder's activations, "
                     "coloured by degradation", fontsize=9)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)

    notes = [f"{analysis['samples']} test crops of {context.settings.feature_crop}x{context.settings.feature_crop} "
             f"per task ({', '.join(analysis['tasks'])}), from {analysis['model']}.",
             "An activation becomes a vector as TV-SE attention sees it: per channel, the mean and the total "
             "variation (β = 3, eq. 6), so 2C numbers; vectors are standardised per component.",
             f"Probe: {context.settings.probe_neighbours}-nearest-neighbour classifier, stratified "
             f"{context.settings.probe_folds}-fold cross-validated accuracy; 'shuffled labels' is the same probe "
             "with the task labels permuted (what chance looks like here)."]
    return Table(["layer", "module", "features", "probe accuracy", "shuffled labels", "chance"], rows, notes,
                 {"analysis": {k: v for k, v in analysis.items() if k not in ("labels",)}}, figure)


def runs_table(context: StudyContext, results: dict[str, dict], runs: list[RunSpec]) -> str:
    lines = ["| run | topology | trained | steps | wall time |", "|---|---|---|---|---|"]
    for run in runs:
        result = results[run.id]
        minutes, seconds = divmod(int(round(result["wall_seconds"])), 60)
        lines.append(f"| {run.label} | {run.topology} | {', '.join(SHORT[t] for t in run.trained)} | "
                     f"{result['steps']} | {minutes}m{seconds:02d}s |")
    return "\n".join(lines)


def write_report(context: StudyContext, table: Table, results: dict[str, dict]) -> list[str]:
    """Writes DIR/NAME.{md,csv,json,png}; returns their paths."""
    name = context.study.name
    base = os.path.join(context.directory, name)
    budget = context.budget
    md = [f"# {name}: {context.study.title}", "",
          f"Budget of every run: {budget.steps:,} steps, global batch {budget.batch}, learning rate "
          f"{budget.learning_rate:g} (Adam, ÷10 on plateaus: window {budget.schedule['plateau_window']}, patience "
          f"{budget.schedule['plateau_patience']}), model preset `{budget.preset}`, seed {budget.seed}; data: "
          f"{budget.data}. Scores: the test split with the paper's protocol (uint8; Y for B, R, J; RGB for H).",
          "", markdown_table(table), "", *[f"* {note}" for note in table.notes]]
    if context.runs:
        md += ["", "## Runs", "", runs_table(context, results, context.runs)]
    md += ["", f"![{name}]({name}.png)", ""]
    write_text_atomic(base + ".md", "\n".join(md))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table.columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(table.rows)
    write_text_atomic(base + ".csv", buffer.getvalue())
    write_json_atomic(base + ".json", {"study": name, "title": context.study.title,
                                       "budget": dataclasses.asdict(budget), "table": table.rows,
                                       "notes": table.notes, **table.extra,
                                       "runs": [results[r.id] for r in context.runs]})
    if table.figure is not None:
        table.figure(base + ".png")
    return [base + ext for ext in (".md", ".csv", ".json", ".png")]


TABLES = {"topologies": topologies_table, "four-task": four_task_table, "ablation": ablation_table,
          "multitask": multitask_table}
