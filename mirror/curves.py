"""Training curves: the per-step training log as `<output_dir>/training_log.csv` and a figure
`<output_dir>/training_curves.png` (loss, positive / negative cosine, alignment / uniformity, learning rate).

`TrainingCurves` is a `TrainerCallback`; the rows come from the Trainer's own `state.log_history` (so the extra
scalars `MirrorTrainer.log` adds are there, and a resumed run continues its log instead of repeating steps).
TensorBoard and other trackers are the Trainer's business: `--report_to tensorboard`.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Iterable

from transformers import TrainerCallback

from .atomic import atomic_write

logger = logging.getLogger(__name__)

LOG_NAME = "training_log.csv"
FIGURE_NAME = "training_curves.png"
COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm", "pos_cos", "neg_cos", "alignment", "uniformity")


def training_rows(log_history: Iterable[dict]) -> list[dict]:
    """The training entries of a Trainer log history (those with a 'loss'; not evaluation or the final summary)."""
    return [dict(entry) for entry in log_history if "loss" in entry]


def write_training_log(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write rows as CSV, atomically: the known columns first, then any others the log had (sorted)."""
    path = Path(path)
    extra = sorted({key for row in rows for key in row} - set(COLUMNS))

    def write(f):
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra], restval="")
        writer.writeheader()
        writer.writerows(rows)

    return atomic_write(path, write)


def read_training_log(path: str | os.PathLike) -> list[dict]:
    """Rows of a `training_log.csv`, numbers as floats (empty cells dropped)."""
    with open(path, encoding="utf-8", newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def plot_training_curves(rows: list[dict], path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw the training log as a 2 x 2 PNG (matplotlib, Agg, no pyplot state), written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if not rows:
        raise ValueError("no training log rows to plot")
    fig = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    panels = {
        "InfoNCE loss": (axes[0, 0], [("loss", "loss")]),
        "cosine similarity": (axes[0, 1], [("pos_cos", "positive pairs"), ("neg_cos", "negatives")]),
        # uniformity is negative and larger in size: its own (right) axis
        "alignment and uniformity (lower is better)": (
            axes[1, 0], [("alignment", "alignment (left axis)"), ("uniformity", "uniformity (right axis)")]
        ),
        "learning rate": (axes[1, 1], [("learning_rate", "learning rate")]),
    }
    for name, (ax, series) in panels.items():
        lines = []
        for i, (key, label) in enumerate(series):
            target = ax.twinx() if key == "uniformity" else ax
            points = [(r["step"], r[key]) for r in rows if _is_number(r.get(key)) and _is_number(r.get("step"))]
            if points:
                xs, ys = zip(*points)
                lines += target.plot(xs, ys, marker="." if len(points) < 30 else None, label=label, color=f"C{i}")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(lines, [line.get_label() for line in lines], fontsize="small")
        if not lines:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="grey")
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    axes[1, 1].set_ylim(bottom=0)
    axes[1, 1].ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    if title:
        fig.suptitle(title)
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class TrainingCurves(TrainerCallback):
    """Keep `<output_dir>/training_log.csv` up to date at every log, and draw `training_curves.png` at the end.

    Main process only. The CSV is rewritten from `state.log_history` at each log (a few hundred rows at most).
    """

    def __init__(self, title: str | None = None):
        self.title = title

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "loss" in logs:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            write_training_log(training_rows(state.log_history), Path(args.output_dir) / LOG_NAME)

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        rows = training_rows(state.log_history)
        if not rows:
            logger.info(f"No training step was logged (logging_steps {args.logging_steps}): no {FIGURE_NAME} drawn")
            return
        out = Path(args.output_dir)
        write_training_log(rows, out / LOG_NAME)
        figure = plot_training_curves(rows, out / FIGURE_NAME, title=self.title)
        logger.info(f"Training log: {out / LOG_NAME}; curves: {figure}")
