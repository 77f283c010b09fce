"""Train one recipe with several seeds (`<output_dir>/seed<k>`), optionally evaluate each encoder with a command
of your choice, and summarise mean ± std per benchmark (`mirror.summary.seed_summary`).

The paper reports the mean of three seeds. Each seed's run is an ordinary recipe run, so its folder holds
`final/`, `dev_results.json`, `training_log.csv` and `training_curves.png`; a seed whose `final/` already exists is
reused (not retrained) unless `--overwrite_output_dir` is given, so an interrupted series can be resumed.
A preempted series prints its own command with `--resume_from_checkpoint last`: run again, each finished seed is
reused, the interrupted one continues from its newest complete checkpoint, and a seed with no complete checkpoint
(not started yet, or stopped before its first save) trains from the start.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .atomic import atomic_write
from .card import DEV_RESULTS_NAME
from .checkpoints import RESUME_LAST, newest_complete, without_resume
from .errors import ConfigError, DataError
from .recipe import FINAL_DIR, parse_args, train
from .summary import format_mean_std, seed_summary

logger = logging.getLogger("mirror")

DEV_SUMMARY_NAME = "seed_summary_dev.csv"
EVAL_SUMMARY_NAME = "seed_summary.csv"


def seed_dir(output_dir: str | os.PathLike, seed: int) -> Path:
    return Path(output_dir) / f"seed{seed}"


def train_seeds(
    argv: Sequence[str],
    seeds: Sequence[int],
    level: str,
    eval_command: str | None = None,
    results_name: str = "results.csv",
) -> dict[str, pd.DataFrame]:
    """Train the recipe given by `argv` (a recipe's flags, `--config` included) once per seed, into
    `<output_dir>/seed<k>`; then, on the main process, run `eval_command` per seed and summarise.

    eval_command: a command line run once per seed (no shell) after all trainings, with `{encoder}` (the seed's
    final encoder folder), `{run_dir}` (the seed's folder) and `{seed}` filled in; it must write
    `<run_dir>/<results_name>` (the evaluation suite's CSV: first column `model`, a numeric column per benchmark).
    Returns {'dev': ..., 'eval': ...}: the numeric summaries that exist (also written as CSV into output_dir).
    """
    argv = list(argv)
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))}: a seed is repeated")
    if any(a == "--seed" or a.startswith("--seed=") for a in argv):
        raise ConfigError("--seed: give the seeds with --seeds, not --seed")
    _, _, base = parse_args(argv, level)  # validates everything before the first run
    if base.push_to_hub or base.hub_dry_run:
        raise ConfigError(
            "--push_to_hub/--hub_dry_run: not with several seeds (they would share one repo); push the seed you "
            "choose afterwards with recipes/push_to_hub.py --encoder <output_dir>/seed<k>/final"
        )
    if eval_command:
        _fill(eval_command, "x", "x", 0)  # a bad placeholder fails now, not after hours of training
    resume = base.resume_from_checkpoint
    if resume and str(resume).lower() not in RESUME_LAST:
        raise ConfigError(
            f"--resume_from_checkpoint {resume}: one checkpoint cannot serve several seeds; use "
            "--resume_from_checkpoint last (each seed continues from its own newest complete checkpoint)"
        )
    out = Path(base.output_dir)
    main_process = base.process_index == 0
    for seed in seeds:
        run_dir = seed_dir(out, seed)
        if (run_dir / FINAL_DIR).is_dir() and not base.overwrite_output_dir:
            logger.warning(f"seed {seed}: {run_dir / FINAL_DIR} exists, reusing it (--overwrite_output_dir retrains)")
            continue
        seed_argv = [*argv, "--seed", str(seed), "--output_dir", str(run_dir)]
        if resume and newest_complete(run_dir, base.save_only_model)[0] is None:
            seed_argv = [*without_resume(argv), "--seed", str(seed), "--output_dir", str(run_dir)]
            if any(run_dir.glob("checkpoint-*")):  # only incomplete ones: nothing to continue from
                seed_argv.append("--overwrite_output_dir")
            logger.warning(f"seed {seed}: no complete checkpoint in {run_dir}, training it from the start")
        model_args, data_args, training_args = parse_args(seed_argv, level)
        logger.warning(f"seed {seed}: training into {run_dir}")
        train(model_args, data_args, training_args)
        gc.collect()
        _empty_device_cache()

    summaries: dict[str, pd.DataFrame] = {}
    if not main_process:
        return summaries
    dev_rows = []
    for seed in seeds:
        path = seed_dir(out, seed) / DEV_RESULTS_NAME
        if path.is_file():
            dev_rows.extend(json.loads(path.read_text(encoding="utf-8")))
    if dev_rows:
        summaries["dev"] = _report(seed_summary(dev_rows), out / DEV_SUMMARY_NAME, "STS-B dev (Spearman x 100)")
    if eval_command:
        results = []
        for seed in seeds:
            run_dir = seed_dir(out, seed)
            command = _fill(eval_command, run_dir / FINAL_DIR, run_dir, seed)
            logger.warning(f"seed {seed}: {shlex.join(command)}")
            proc = subprocess.run(command)
            if proc.returncode != 0:
                raise DataError(f"--eval_command failed for seed {seed} (exit {proc.returncode}): {shlex.join(command)}")
            if not (run_dir / results_name).is_file():
                raise DataError(f"--eval_command for seed {seed} wrote no {run_dir / results_name}")
            results.append(run_dir / results_name)
        summaries["eval"] = _report(seed_summary(results), out / EVAL_SUMMARY_NAME, "evaluation")
    return summaries


def _fill(template: str, encoder, run_dir, seed) -> list[str]:
    """Split the command line (no shell) and put the seed's values in place of the three placeholders (other
    braces are left alone, so a `python -c` snippet with f-strings works)."""
    if "{encoder}" not in template and "{run_dir}" not in template:
        raise ConfigError(f"--eval_command {template!r}: name the seed's encoder with {{encoder}} (or {{run_dir}})")
    try:
        parts = shlex.split(template)
    except ValueError as err:
        raise ConfigError(f"--eval_command {template!r}: cannot split it into arguments: {err}") from None
    values = {"{encoder}": str(encoder), "{run_dir}": str(run_dir), "{seed}": str(seed)}
    for key, value in values.items():
        parts = [part.replace(key, value) for part in parts]
    return parts


def _report(summary: pd.DataFrame, path: Path, name: str) -> pd.DataFrame:
    atomic_write(path, lambda f: summary.to_csv(f))
    print(f"\n{name}, mean ± sample std over seeds:\n" + format_mean_std(summary).to_markdown() + f"\n(written: {path})\n")
    return summary


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
