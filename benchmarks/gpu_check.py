"""GPU check: mirror against sentence-transformers' unsupervised recipe on BERT-base- and MiniLM-sized encoders,
in one go, with no network and no downloaded or installed weights.

    PYTHONPATH=. python benchmarks/gpu_check.py          # one GPU, from the repository root; stops by 270 s
    PYTHONPATH=. python benchmarks/gpu_check.py --tiny   # CPU smoke run (hidden 32, 2 layers, 4 steps): the tests' run

Install first `pip install -r requirements.txt` (or keep the machine's own torch and add transformers, accelerate,
datasets, sentence-transformers, pyyaml, jinja2, psutil); `pip install -e .` instead of PYTHONPATH=. also works.

The encoders are randomly initialised BertModels (random weights cost the same FLOPs as trained ones) built from
the configs below and the WordPiece vocabulary kept in benchmarks/assets/vocab-uncased.txt (`kept_tokenizer`):
bert-base-uncased's size (hidden 768, 12 layers, 12 heads, intermediate 3072) and all-MiniLM-L6-v2's (hidden 384,
6 layers, 12 heads, intermediate 1536), vocabulary 30522, 512 positions. Each is saved once to a temporary folder
with mean pooling and loaded from there by both contenders, so both start from the same weights.

For each encoder and contender: a few untimed warm-up steps (CUDA start-up, kernel selection), then one timed
epoch of the sentence recipe (the shipped data/sentences/en_stsb_train_10k.txt as the recipe loads it, i.e.
deduplicated; batch 200 strings = 400 rows, max length 50, bf16 autocast where the GPU has it, every other
setting the trainer's default, no checkpoint saving), mirror's `MirrorTrainer` against the peer (sentence-
transformers' MultipleNegativesRankingLoss with its SentenceTransformerTrainer, benchkit.peer_trainer); then
`mirror.encode` against `SentenceTransformer.encode` of the shipped STS-B dev sentences (both columns, each
distinct sentence once, under the same autocast). One markdown table: seconds per epoch (per encoding pass), per
step, sequences/s (2 rows per string in training, for both), and the achieved FLOP/s (6 x non-embedding parameters
x real tokens for training, 2 x for encoding) as % of the peak measured here with a matmul of the encoder's
shapes, (tokens x hidden) @ (hidden x intermediate) and back, at the run's precision.

It times one GPU, the first (CUDA_VISIBLE_DEVICES=0 unless set). Imports are checked first: without `datasets`
or sentence-transformers it says what is missing in one line and times mirror alone (sentence-transformers 3-5,
whose losses live in `sentence_transformers.losses`, are accepted too). A time budget (`--budget_s`, default
270 s) stops a run that would take too long: an epoch cut short is extrapolated from its timed steps and its row
says so; `--max_steps` caps each epoch outright. On a CPU everything runs in fp32 unless `--precision bf16`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOCAB = REPO / "benchmarks" / "assets" / "vocab-uncased.txt"
SENTENCES = REPO / "data" / "sentences" / "en_stsb_train_10k.txt"
STS_DEV = REPO / "data" / "stsb" / "sts-dev.csv"
# BertConfig fields of each encoder (the rest are BertConfig's defaults: dropout 0.1, GELU, 512 positions)
MODELS = {
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "MiniLM-L6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=128),
}
ENCODE_MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length, for both contenders (STS-B sentences are far shorter)
PEAK_ROWS = 8192  # matmul rows for the peak: about the real tokens of one step (400 rows x ~15 tokens) and then some
MIRROR_NEEDS = ["torch", "transformers", "accelerate", "psutil", "mirror", "benchkit"]  # benchkit: the sibling file
PEER_NEEDS = ["datasets", "sentence_transformers"]
PEER_LOSSES = "sentence_transformers.sentence_transformer.losses"  # where benchkit.peer_trainer imports MNRL (6.x)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true",
                   help="CPU smoke configuration: the tiny encoder, 128 sentences, batch 32, 96 encoded sentences")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                   help="default: bert-base MiniLM-L6 (tiny with --tiny)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto: bf16 autocast on a GPU with bf16, else fp32")
    p.add_argument("--batch_size", type=int, default=None, help="strings per step (default 200; 32 with --tiny)")
    p.add_argument("--max_sentences", type=int, default=None, help="train on the first N sentences (128 with --tiny)")
    p.add_argument("--encode_sentences", type=int, default=None, help="encode the first N dev sentences (96 with --tiny)")
    p.add_argument("--encode_batch_size", type=int, default=64)
    p.add_argument("--encode_repeats", type=int, default=None, help="timed encoding passes, median reported (3; 1 with --tiny)")
    p.add_argument("--warmup_steps", type=int, default=None, help="untimed training steps first (3; 1 with --tiny)")
    p.add_argument("--max_steps", type=int, default=None, help="cap each timed epoch at this many steps")
    p.add_argument("--budget_s", type=float, default=270.0,
                   help="stop measuring after this many seconds from the start (an epoch cut short is extrapolated)")
    p.add_argument("--threads", type=int, default=None, help="torch threads on the CPU (default: torch's)")
    args = p.parse_args(argv)
    tiny = dict(models=["tiny"], batch_size=32, max_sentences=128, encode_sentences=96, encode_repeats=1, warmup_steps=1)
    full = dict(models=["bert-base", "MiniLM-L6"], batch_size=200, max_sentences=None, encode_sentences=None,
                encode_repeats=3, warmup_steps=3)
    for key, value in (tiny if args.tiny else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def missing_modules(names: list[str]) -> list[str]:
    """'name (why)' for each module of `names` that cannot be imported here."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # ImportError, or a package that breaks on import (version clash)
            missing.append(f"{name} ({first_line(err)})")
    return missing


def peer_missing() -> list[str]:
    """What keeps the peer from running: missing modules, or sentence-transformers without its v3+ trainer."""
    missing = missing_modules(PEER_NEEDS)
    if missing:
        return missing
    import sentence_transformers as st

    if not hasattr(st, "SentenceTransformerTrainer"):
        return [f"sentence_transformers.SentenceTransformerTrainer (sentence-transformers {st.__version__}; needs >= 3)"]
    if missing_modules([PEER_LOSSES]):
        # sentence-transformers 3.x-5.x keep the losses in sentence_transformers.losses: let benchkit find them there
        losses = importlib.import_module("sentence_transformers.losses")
        sys.modules[PEER_LOSSES] = losses
    return []


def versions() -> str:
    out = []
    for name, dist in (("torch", "torch"), ("transformers", "transformers"), ("sentence_transformers", "sentence-transformers"),
                       ("datasets", "datasets")):
        module = sys.modules.get(name)
        if module is not None:
            out.append(f"{dist} {getattr(module, '__version__', '?')}")
    return ", ".join(out)


def device_info(torch) -> tuple[str, str]:
    if torch.cuda.is_available():
        return "cuda", f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return "cpu", f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_tflops(torch, device: str, dtype, rows: int, k: int, n: int, seconds: float = 0.3) -> float:
    """Measured dense matmul throughput of (rows x k) @ (k x n) at `dtype`, in TFLOP/s."""
    a = torch.randn(rows, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(torch, device)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            a @ b
        reps += 10
        sync(torch, device)
    return 2 * rows * k * n * reps / (time.perf_counter() - start) / 1e12


def kept_tokenizer(folder: Path):
    """The uncased WordPiece tokenizer of benchmarks/assets/vocab-uncased.txt, loaded from `folder`.

    The vocabulary is copied in as vocab.txt and read by `from_pretrained`, which every transformers version
    understands: `BertTokenizerFast(vocab_file=...)` is silently ignored by transformers 5 (whose constructor takes
    `vocab=`), leaving a 5-token vocabulary, so the size is checked too."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(VOCAB, folder / "vocab.txt")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True, model_max_length=512)
    expected = len(VOCAB.read_text(encoding="utf-8").splitlines())
    if tokenizer.vocab_size != expected or tokenizer.mask_token_id != 103:
        raise RuntimeError(f"{VOCAB}: tokenizer built with {tokenizer.vocab_size} tokens, expected {expected}")
    return tokenizer


def build_model(name: str, folder: Path) -> Path:
    """A randomly initialised BertModel of `name`'s size with the kept vocabulary, saved with mean pooling."""
    import torch
    from transformers import BertConfig, BertModel

    from mirror import Encoder, save_encoder

    torch.manual_seed(0)
    tokenizer = kept_tokenizer(folder)
    config = BertConfig(vocab_size=tokenizer.vocab_size, **MODELS[name])
    encoder = Encoder(BertModel(config), tokenizer, "mean", min(ENCODE_MAX_LENGTH, config.max_position_embeddings))
    save_encoder(encoder, folder)
    return folder


def deadline_callback(deadline: float):
    """A TrainerCallback that stops training once `deadline` (a perf_counter time) has passed; `.hit` says it did.
    Built here, not at import: transformers is imported only after the import check."""
    from transformers import TrainerCallback

    class Deadline(TrainerCallback):
        hit = False

        def on_step_end(self, args, state, control, **kwargs):
            if time.perf_counter() > deadline:
                control.should_training_stop = self.hit = True

    return Deadline()


def mirror_trainer(path: Path, texts: list[str], out: str, args, max_steps: int, callbacks: list):
    from mirror import MirrorCollator, MirrorConfig, MirrorTrainer, TextDataset, load_encoder
    from mirror.config import level_settings

    level = level_settings("sentence")
    enc = load_encoder(str(path), pooling="mean", dropout=0.1, fast_dropout=True)  # as the recipe (GPUs: torch's kernels)
    config = MirrorConfig(
        output_dir=out, per_device_train_batch_size=args.batch_size, max_steps=max_steps, save_strategy="no",
        report_to=[], disable_tqdm=True, seed=0, bf16=args.bf16, use_cpu=args.device == "cpu", cpu_threads=args.threads,
    ).for_trainer(enc)
    collator = MirrorCollator(enc.tokenizer, max_length=level["max_length"], span_mask_len=level["span_mask_len"], seed=0)
    trainer = MirrorTrainer(
        model=enc.model, args=config, train_dataset=TextDataset(texts), data_collator=collator,
        processing_class=enc.tokenizer, callbacks=callbacks,
    )
    return trainer, enc.model, enc


def peer_trainer(path: Path, texts: list[str], out: str, args, max_steps: int, callbacks: list):
    from benchkit import peer_model, peer_trainer as build_peer_trainer, st_transformer

    from mirror.config import level_settings

    st = peer_model(str(path), level_settings("sentence")["max_length"], device=args.device)
    trainer = build_peer_trainer(st, texts, out, args.batch_size, max_steps=max_steps, seed=0, callbacks=callbacks, bf16=args.bf16)
    return trainer, st_transformer(st), st


def quiet(trainer):
    """Trainers print every log dict when tqdm is off: keep the output to the table."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def time_training(impl: str, path: Path, texts: list[str], args, deadline: float) -> tuple[dict, object, object]:
    """Warm-up steps, then one timed epoch; returns the row and the trained (model, encoder) for encoding."""
    import torch
    from benchkit import StepClock, count_tokens, non_embedding_parameters

    build = mirror_trainer if impl == "mirror" else peer_trainer
    steps_per_epoch = len(texts) // args.batch_size  # drop_last, for both
    planned = min(steps_per_epoch, args.max_steps or steps_per_epoch)
    out = tempfile.mkdtemp(prefix=f"gpu_check_{impl}_")
    try:
        if args.warmup_steps:  # CUDA context, cuBLAS handles, kernel selection: process-wide, kept for the epoch
            quiet(build(path, texts, out, args, args.warmup_steps, [])[0]).train()
            free(torch, args.device)
        clock, stop = StepClock(), deadline_callback(deadline)
        trainer, model, holder = build(path, texts, out, args, planned, [clock, stop])  # fresh from the saved weights
        tokens: list[int] = []
        trainer.data_collator = count_tokens(trainer.data_collator, tokens)
        quiet(trainer).train()
        sync(torch, args.device)
        seconds = time.perf_counter() - clock.ends[0]
        steps = len(clock.ends) - 1
        del trainer
    finally:
        shutil.rmtree(out, ignore_errors=True)
    params = non_embedding_parameters(model)
    tflops = 6 * params * sum(tokens[:steps]) / seconds / 1e12
    row = {
        "impl": impl, "work": f"train 1 epoch ({steps_per_epoch} steps)", "s": seconds / steps * steps_per_epoch,
        "s/step": seconds / steps, "sequences/s": 2 * args.batch_size / (seconds / steps), "TFLOP/s": tflops,
        "note": "" if steps == steps_per_epoch else f"{steps} of {steps_per_epoch} steps timed "
        f"({'time budget' if stop.hit else '--max_steps'}), s per epoch extrapolated",
    }
    return row, model, holder


def time_encoding(impl: str, model, holder, sentences: list[str], args) -> dict:
    import torch
    from benchkit import non_embedding_parameters

    import mirror

    if impl == "mirror":
        run = lambda texts: mirror.encode(holder, texts, batch_size=args.encode_batch_size, show_progress_bar=False)
        tokenizer, max_length = holder.tokenizer, holder.max_seq_length
    else:
        holder.max_seq_length = min(ENCODE_MAX_LENGTH, model.config.max_position_embeddings)
        run = lambda texts: holder.encode(texts, batch_size=args.encode_batch_size, convert_to_numpy=True, show_progress_bar=False)
        tokenizer, max_length = holder.tokenizer, holder.max_seq_length
    n_tokens = sum(len(ids) for ids in tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"])
    autocast = torch.autocast(args.device, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    times = []
    with autocast:
        run(sentences[: 4 * args.encode_batch_size])  # warm-up
        for _ in range(args.encode_repeats):
            start = time.perf_counter()
            run(sentences)  # returns numpy: synchronised
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    batches = -(-len(sentences) // args.encode_batch_size)
    return {
        "impl": impl, "work": f"encode {len(sentences)} sentences ({batches} batches)", "s": seconds,
        "s/step": seconds / batches, "sequences/s": len(sentences) / seconds,
        "TFLOP/s": 2 * non_embedding_parameters(model) * n_tokens / seconds / 1e12, "note": "",
    }


def free(torch, device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def table(rows: list[dict], peak: float) -> str:
    head = ["model", "contender", "work", "s", "s/step", "sequences/s", "TFLOP/s", "% of peak", "mirror / peer", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * 6 + "---|"]
    for r in rows:
        peer = next((p for p in rows if p["impl"] == "peer" and p["model"] == r["model"] and p["work"] == r["work"]), None)
        ratio = f"{r['sequences/s'] / peer['sequences/s']:.2f} ×" if r["impl"] == "mirror" and peer else ""
        cells = [r["model"], r["impl"], r["work"], fmt(r["s"]), fmt(r["s/step"]), fmt(r["sequences/s"]),
                 fmt(r["TFLOP/s"]), fmt(100 * r["TFLOP/s"] / peak), ratio, r["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    started = time.perf_counter()
    args = parse(argv)
    deadline = started + args.budget_s
    missing = missing_modules(MIRROR_NEEDS)
    if missing:
        raise SystemExit(
            f"gpu_check cannot run: missing {'; '.join(missing)} (pip install -r requirements.txt; run from the "
            "repository root with PYTHONPATH=. or after pip install -e .)"
        )
    no_peer = peer_missing()
    import torch

    from mirror.config import level_settings
    from mirror.data import load_corpus
    from mirror.evaluation.sts import load_stsb

    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    args.device, device_name = device_info(torch)
    if args.precision == "auto":
        args.bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
    else:
        args.bf16 = args.precision == "bf16"
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    precision = "bf16 autocast" if args.bf16 else "fp32"

    texts = load_corpus(SENTENCES)[0]
    texts = texts[: args.max_sentences] if args.max_sentences else texts
    dev = load_stsb(str(STS_DEV))
    sentences = list(dict.fromkeys(dev.sents1 + dev.sents2))
    sentences = sentences[: args.encode_sentences] if args.encode_sentences else sentences

    print(f"# GPU check, {time.strftime('%Y-%m-%d')}: {device_name}; {versions()}; {precision}\n")
    if no_peer:
        print(f"peer not run: missing {'; '.join(no_peer)}; timing mirror alone")
    peaks = {}
    for name in args.models:
        h, i = MODELS[name]["hidden_size"], MODELS[name]["intermediate_size"]
        for k, n in ((h, i), (i, h)):
            peaks[(PEAK_ROWS, k, n)] = matmul_tflops(torch, args.device, dtype, PEAK_ROWS, k, n)
    peak = max(peaks.values())
    shapes = ", ".join(f"({m}×{k})@({k}×{n}) {v:.3g}" for (m, k, n), v in peaks.items())
    print(f"peak: {peak:.3g} TFLOP/s, the best {'bf16' if args.bf16 else 'fp32'} dense matmul measured here ({shapes} TFLOP/s)")
    print(f"training: {len(texts)} sentences of {SENTENCES.relative_to(REPO)} (deduplicated, as the recipe loads them), "
          f"batch {args.batch_size} ({2 * args.batch_size} rows), max length {level_settings('sentence')['max_length']}, one epoch (warm-up steps before it: "
          f"{args.warmup_steps}); encoding: {len(sentences)} STS-B dev sentences, batch {args.encode_batch_size}, "
          f"median over passes: {args.encode_repeats}; FLOPs = 6 (training) or 2 (encoding) × non-embedding parameters × real tokens\n")

    rows: list[dict] = []
    skipped: list[str] = []
    impls = ["mirror"] + ([] if no_peer else ["peer"])
    with tempfile.TemporaryDirectory(prefix="gpu_check_models_") as tmp:
        for name in args.models:
            path = build_model(name, Path(tmp) / name)
            for impl in impls:
                if time.perf_counter() > deadline:
                    skipped.append(f"{name} {impl}")
                    continue
                row, model, holder = time_training(impl, path, texts, args, deadline)
                rows.append({"model": name, **row})
                if time.perf_counter() > deadline:
                    skipped.append(f"{name} {impl} encoding")
                else:
                    rows.append({"model": name, **time_encoding(impl, model, holder, sentences, args)})
                del model, holder
                free(torch, args.device)
            shutil.rmtree(path, ignore_errors=True)
    print(table(rows, peak))
    total = time.perf_counter() - started
    if skipped:
        print(f"\ntime budget of {args.budget_s:.0f} s reached: not measured: {', '.join(skipped)}")
    print(f"\ntotal {total:.0f} s")
    return rows


if __name__ == "__main__":
    # one GPU: with several visible, the Trainer in a plain `python` process would go DataParallel (set before torch
    # is imported, which is why it is here and not in main)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "0")
    main()
