"""A suite of benchmarks end to end: find them under a folder, load each once, score every model into one table.

    table, meta = evaluate_suite("sts", ["outputs/sentence_minilm/final"], "path/to/benchmarks")
    table, meta = evaluate_suite("crosslingual", models, data_dir, task_options={"csls_k": 5})

`table` is a DataFrame (one row per model, a column per benchmark and metric, averages last) and `meta` the
metadata results.json holds. Suite-specific settings reach the suite's `find_tasks` through `task_options`; this
module knows no suite by name beyond the `SUITES` table. The eval/ scripts parse their own flags and call
`cli.run` (printing and writing); `mirror.evaluation.runner` is the old name of this module.
"""

from __future__ import annotations

import datetime
import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from ..encoder import encode, load_encoder
from ..errors import ConfigError, DataError, ModelLoadError
from . import crosslingual, lexical, sts
from .common import CachedEncoder
from .discovery import Task, assign_variants, relative_name, select_tasks
from .report import results_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suite:
    """A suite's facts: its title, `find(data_dir, **task_options) -> [Task]`, the protocol and the file layouts
    it recognises (both shown to the user), and the y-axis label of its bar chart."""

    name: str
    title: str
    find: Callable[..., list[Task]]
    protocol: str
    layouts: str
    ylabel: str


SUITES = {
    "sts": Suite(
        "sts",
        "STS",
        sts.find_tasks,
        "Spearman x 100 between the cosine similarity of each pair's embeddings and the gold score. STS12-16: "
        "(all) = one correlation over all subsets of the year concatenated (the paper's protocol), (wmean) = the "
        "subsets' correlations weighted by their scored pairs. avg = mean of the (all), STS-B and SICK-R columns.",
        "STS.input.<subset>.txt + STS.gs.<subset>.txt (STS12-16, SentEval layout), sts-test.csv (STS-B), "
        "SICK_test_annotated.txt or SICK.txt (SICK-R)",
        "Spearman x 100",
    ),
    "lexical": Suite(
        "lexical",
        "Word similarity",
        lexical.find_tasks,
        "Spearman x 100 between the cosine similarity of the two words' embeddings and the gold score. "
        "avg = mean of all columns.",
        "SimLex-999*.txt, Multi-SimLex scores.csv + translation.csv or multisimlex/<lang>.tsv, wordsim*/ws353*/"
        "combined.csv (WordSim-353), MEN_dataset_natural_form_full / EN-MEN-TR-3k.txt (MEN)",
        "Spearman x 100",
    ),
    "crosslingual": Suite(
        "crosslingual",
        "Cross-lingual retrieval",
        crosslingual.find_tasks,
        "BLI: precision@1 x 100 of each source word's nearest target word among all target words of the "
        "dictionary, by cosine (NN) and by CSLS (k nearest neighbours for the hubness penalty); (mapped NN) and "
        "(mapped CSLS) where the pair's train dictionary lies beside the test one: each language's words "
        "normalised (unit length, mean centring, unit length), the source words mapped by the orthogonal "
        "Procrustes map learned on the train pairs, then the same retrieval. Tatoeba: accuracy x 100 of "
        "nearest-neighbour sentence retrieval in each direction (error rate = 100 - accuracy).",
        "<src>-<tgt>.5000-6500.txt (MUSE), yacle.test.freq.*.<src>-<tgt>.tsv (XLING), *.<src>-<tgt>.*test*.txt, "
        "with <src>-<tgt>.0-5000.txt / yacle.train.freq.*.<src>-<tgt>.tsv / *.train.* beside them for the map; "
        "tatoeba.<xx>-<yy>.<xx> + tatoeba.<xx>-<yy>.<yy> (Tatoeba)",
        "P@1 / accuracy x 100",
    ),
}


# ---------------------------------------------------------------------------------------------------- models


@dataclass
class ModelSpec:
    name_or_path: str
    pooling: str | None  # None: from the checkpoint's metadata
    label: str


def model_specs(models: Sequence[str], pooling: Sequence[str] | None) -> list[ModelSpec]:
    """One spec per `--model`, with its pooling and a readable, unique row label."""
    if not models:
        raise ConfigError("--model is required: give one or more encoders (a local folder, a package or a Hub id)")
    pooling = list(pooling or ["auto"])
    if len(pooling) == 1:
        pooling = pooling * len(models)
    if len(pooling) != len(models):
        raise ConfigError(
            f"--pooling: give one value for all models or one per model; got {len(pooling)} for {len(models)} models"
        )
    specs, seen = [], {}
    for model, pool in zip(models, pooling):
        pool = None if pool == "auto" else pool
        label = f"{model} ({pool})" if pool else str(model)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        specs.append(ModelSpec(str(model), pool, label))
    return specs


# ---------------------------------------------------------------------------------------------------- running


def discover(
    suite: str, data_dir: str | Path, tasks: Sequence[str] | None = None, task_options: dict[str, Any] | None = None
) -> list[Task]:
    """The suite's benchmarks under `data_dir`, narrowed to `tasks`; none found is an error listing the layouts.

    `task_options` go to the suite's find function (crosslingual: `csls_k`, `bli_train_size`)."""
    spec = SUITES[suite]
    found = spec.find(data_dir, **(task_options or {}))
    if not found:
        raise DataError(f"--data_dir {data_dir}: no {spec.title} benchmark found; recognised files: {spec.layouts}")
    return select_tasks(found, list(tasks) if tasks else None, suite)


def load_tasks(tasks: list[Task], data_dir: Path) -> tuple[list[tuple[Task, Any]], list[str]]:
    """Load every task once; a copy whose data equals an already loaded copy of the same benchmark is dropped
    (with a note), and the remaining copies are renamed apart again. An `optional` task (a file caught by a broad
    name pattern) that does not load is skipped with a note; any other load error stops the run. Notes: the
    tasks' own (`Task.notes` of the tasks read, once each), then the skipped files, the dropped copies, the STS gold files without an
    input file, then the loaded data's own (`data.notes`, e.g. BLI train pairs that share a source word with the
    test dictionary)."""
    kept: list[tuple[Task, Any]] = []
    dropped: list[tuple[Task, Task]] = []
    skipped: list[str] = []
    for task in tasks:
        try:
            data = task.load()
        except DataError as err:
            if not task.optional:
                raise
            skipped.append(_skip_note(task, err, data_dir))
            continue
        twin = next((t for t, d in kept if t.benchmark == task.benchmark and d.content() == data.content()), None)
        if twin is not None:
            dropped.append((task, twin))
            continue
        kept.append((task, data))
    if not kept and skipped:
        raise DataError(f"--data_dir {data_dir}: no benchmark file could be read; " + "; ".join(skipped))
    assign_variants([t for t, _ in kept], data_dir)
    read = [task for task, _ in kept] + [task for task, _ in dropped]  # a skipped file's own notes do not apply
    notes = list(dict.fromkeys(note for task in read for note in task.notes))
    notes += skipped
    notes += [
        f"{', '.join(relative_name(f, data_dir) for f in task.files)} holds the same data as {twin.name}: scored once"
        for task, twin in dropped
    ]
    for task, data in kept:
        for name in getattr(data, "ignored", []):
            why = (
                "the release's concatenation of the subsets" if ".gs.ALL." in name
                else "STS13's SMT sentences are licensed separately, by LDC" if ".gs.SMT." in name
                else "no sentences to score"
            )  # fmt: skip
            notes.append(f"{task.name}: {name} has no STS.input file beside it ({why}): not scored")
    notes += [f"{task.name}: {note}" for task, data in kept for note in getattr(data, "notes", ())]
    return kept, notes


def _skip_note(task: Task, err: DataError, data_dir: Path) -> str:
    """'<file>: not read as <benchmark> (<why>)', paths relative to `data_dir`."""
    why = str(err)
    for path in task.files:
        why = why.replace(str(path), relative_name(path, data_dir))
    files = ", ".join(relative_name(f, data_dir) for f in task.files)
    return f"{files}: not read as {task.benchmark}, skipped ({why})"


def describe(task: Task, data: Any, data_dir: Path) -> dict[str, Any]:
    files = [relative_name(f, data_dir) for f in task.files]
    return {"name": task.name, "benchmark": task.benchmark, "files": files, **data.stats()}


def _default_device(device: str | None) -> str | None:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else None


def evaluate_suite(
    suite: str,
    models: Sequence[str],
    data_dir: str | Path,
    pooling: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    task_options: dict[str, Any] | None = None,
    detail: bool = False,
    batch_size: int = 64,
    max_length: int | None = None,
    device: str | None = None,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score `models` on the suite's benchmarks under `data_dir`: (table, metadata).

    pooling: one per model or one for all (None / "auto": the checkpoint's saved pooling). tasks: `--tasks`
    patterns. task_options: the suite's find options (crosslingual: `csls_k`, `bli_train_size`), recorded in the
    metadata.
    detail: also the detail columns (STS: one per STS12-16 subset)."""
    data_dir = Path(data_dir)
    specs = model_specs(models, pooling)
    found = discover(suite, data_dir, tasks, task_options)
    loaded, notes = load_tasks(found, data_dir)
    columns: list[str] = []
    averages: dict[str, list[str]] = {}
    for task, _ in loaded:
        for column, metric in task.columns(detail=detail):
            columns.append(column)
            if metric.average:
                averages.setdefault(metric.average, []).append(column)
    rows: dict[str, dict[str, float]] = {}
    model_info = []
    device = _default_device(device)
    for spec in specs:
        start = time.perf_counter()
        try:
            encoder = load_encoder(spec.name_or_path, pooling=spec.pooling, device=device)
        except ModelLoadError as err:  # its message names the training flag; here the flag is --model
            raise ModelLoadError(str(err).replace("--model_name_or_path", "--model", 1)) from err
        cached = CachedEncoder(lambda texts: encode(encoder, texts, batch_size=batch_size, max_length=max_length))
        row: dict[str, float] = {}
        for task, data in loaded:
            log(f"[{spec.label}] {task.name} ({len(data):,} items)")
            scores = task.score(cached, data)
            for column, metric in task.columns(detail=detail):
                row[column] = scores[metric.key]
        rows[spec.label] = row
        model_info.append(
            {
                "label": spec.label,
                "model": spec.name_or_path,
                "pooling": encoder.pooling,
                "pooling_from": "--pooling" if spec.pooling else "checkpoint metadata (cls if none)",
                "max_length": max_length or encoder.max_seq_length,
                "strings_encoded": cached.encoded,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        del encoder, cached
    table = results_table(rows, columns, averages)
    meta = {
        "suite": suite,
        "protocol": SUITES[suite].protocol,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "data_dir": str(data_dir.resolve()),
        "averages": averages,
        "models": model_info,
        "tasks": [describe(t, d, data_dir) for t, d in loaded],
        "notes": notes,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "device": device or "cpu"},
    }
    meta.update(task_options or {})
    return table, meta

