"""Pieces of the benchmark scripts: the peer recipe (sentence-transformers' unsupervised SimCSE), step timing,
token counting and memory probes, worker processes. sentence-transformers is imported lazily.

Not part of the `mirror` package: only benchmarks/ uses it, and it needs what the package does not declare
(sentence-transformers, psutil; `pip install -r benchmarks/requirements.txt` or `pip install -e .[bench]`).
The scripts are run as `python benchmarks/<script>.py`, which puts this folder first on sys.path, so they import
it as a sibling module (`from benchkit import peer_model`); tests load the scripts with `benchmark_script(name)`
in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

RESULT_PREFIX = "BENCHMARK_RESULT "


PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
OOM_MESSAGES = ("can't allocate memory", "out of memory", "failed to allocate", "cannot allocate memory")


def fast_precisions(device: str = "cpu") -> list[str]:
    """The precisions this device runs matrix products natively in: fp32 always; on a CPU bf16 too where it has
    AVX512-BF16 or AMX (`mirror.config.cpu_has_fast_bf16`, oneDNN's own test; without them a bf16 matmul is ~100 x
    slower than fp32); on a CUDA GPU bf16 (where supported) and fp16, the tensor-core precisions."""
    import mirror.config  # looked up at call time, so a test can monkeypatch cpu_has_fast_bf16

    if device.startswith("cuda"):
        return ["fp32"] + (["bf16"] if torch.cuda.is_bf16_supported() else []) + ["fp16"]
    return ["fp32"] + (["bf16"] if mirror.config.cpu_has_fast_bf16() else [])


def autocast(precision: str, device: str = "cpu"):
    """The autocast context a run at `precision` trains or encodes under (none for fp32)."""
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=DTYPES[precision])


def encoder_gemm_shapes(config, rows: int = 2048) -> list[tuple[int, int, int]]:
    """The (m, k, n) matrix products of one encoder layer's forward over `rows` tokens, from the model's config:
    the attention projections (hidden x hidden; Q, K, V and the output), the feed-forward up (hidden x
    intermediate) and down (intermediate x hidden) projections. MiniLM: 384x384, 384x1536, 1536x384."""
    h, i = config.hidden_size, config.intermediate_size
    return [(rows, h, h), (rows, h, i), (rows, i, h)]


def encoder_gemm_flops(config, tokens: int) -> float:
    """Forward FLOPs of the encoder layers' linear layers over `tokens` tokens (2 per multiply-add; x 3 for a
    training step: the backward pass does twice the forward's products). The pooler and the embeddings excluded."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return 2.0 * tokens * layers * (4 * h * h + 2 * h * i)


def attention_flops(config, lengths: list[int]) -> float:
    """Forward FLOPs of attention's two products (scores Q K^T and the weighted sum of V) for rows of these
    lengths, each attending over its own tokens only (no padding)."""
    return 2.0 * 2 * config.hidden_size * config.num_hidden_layers * sum(n * n for n in lengths)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_gflops(shape: tuple[int, int, int], precision: str = "fp32", device: str = "cpu", repeats: int = 5,
                  seconds: float = 0.1) -> float:
    """Dense (m x k) @ (k x n) throughput in GFLOP/s: the best of `repeats` windows of ~`seconds` each (the best,
    not the mean: on a shared machine the other jobs only ever slow a window down)."""
    m, k, n = shape
    a = torch.randn(m, k, device=device, dtype=DTYPES[precision])
    b = torch.randn(k, n, device=device, dtype=DTYPES[precision])
    for _ in range(3):
        a @ b
    _sync(device)
    best = 0.0
    for _ in range(repeats):
        reps, start = 0, time.perf_counter()
        while True:
            a @ b
            reps += 1
            if reps % 4 == 0:
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
        best = max(best, 2 * m * k * n * reps / elapsed / 1e9)
    return best


def matmul_peaks(precisions: list[str], shapes: list[tuple[int, int, int]], device: str = "cpu", repeats: int = 5,
                 seconds: float = 0.1) -> dict[str, dict]:
    """The measured peak of each precision on the encoder's own GEMM shapes: {precision: {"gflops": the best over
    the shapes, "shapes": {shape: GFLOP/s}}}. A precision the device has no fast units for is refused
    (ValueError): its "peak" would be a slow emulation, and % of it would flatter the run."""
    fast = fast_precisions(device)
    slow = [p for p in precisions if p not in fast]
    if slow:
        raise ValueError(f"no fast {', '.join(slow)} on this {device} (it has: {', '.join(fast)})")
    peaks = {}
    for precision in precisions:
        per_shape = {shape: matmul_gflops(shape, precision, device, repeats, seconds) for shape in shapes}
        peaks[precision] = {"gflops": max(per_shape.values()), "shapes": per_shape}
    return peaks


def describe_peaks(peaks: dict[str, dict]) -> str:
    """One line per precision: its peak and each shape's best."""
    lines = []
    for precision, peak in peaks.items():
        shapes = ", ".join(f"({m}x{k})@({k}x{n}) {g:.1f}" for (m, k, n), g in peak["shapes"].items())
        lines.append(f"measured {precision} matmul peak {peak['gflops']:.1f} GFLOP/s (best of repeats; {shapes})")
    return "\n".join(lines)


def fit_exponent(sizes: list[float], values: list[float]) -> float:
    """The slope of log(value) against log(size), least squares: values ~ size^slope."""
    import numpy as np

    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def is_oom(err: BaseException) -> bool:
    """Whether an exception is an allocation failure (under an address-space limit, torch raises RuntimeError)."""
    return isinstance(err, MemoryError) or any(m in str(err).lower() for m in OOM_MESSAGES)


def limit_address_space(gb: float) -> None:
    """Cap this process's address space (RLIMIT_AS) at `gb`, so a probe past memory fails with an error it can
    report instead of meeting the kernel's OOM killer."""
    limit = int(gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Parameters that take part in matrix products (all but the embedding tables), the usual count for
    6 x N x tokens training FLOPs (Kaplan et al. 2020)."""
    emb = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    return sum(p.numel() for p in model.parameters()) - emb


class RssPeak:
    """Samples this process's resident memory every 10 ms; `.peak_mb` is the highest seen since start()."""

    def __init__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def start(self):
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def emit(result: dict) -> None:
    """Print a worker's result as one JSON line the orchestrator picks out of the output."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(script: Path, args: list[str], env_extra: dict | None = None, timeout: int = 3600) -> dict:
    """Run `script --worker ...` in a fresh process (clean peak memory, no state shared between contenders)."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"benchmark worker {args} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def peer_model(model_path: str, max_length: int, device: str = "cpu", dtype=None):
    """The peer's encoder: sentence-transformers' Transformer + mean (or the checkpoint's) pooling; `dtype` (e.g.
    torch.bfloat16) loads the weights in that type, sentence-transformers' own way to encode in low precision."""
    from sentence_transformers import SentenceTransformer

    kwargs = {"model_kwargs": {"dtype": dtype}} if dtype is not None else {}
    model = SentenceTransformer(model_path, device=device, **kwargs)
    model.max_seq_length = max_length
    return model


def peer_trainer(
    model,
    texts: list[str],
    output_dir: str,
    batch_size: int,
    max_steps: int = -1,
    epochs: float = 1.0,
    learning_rate: float = 2e-5,
    seed: int = 42,
    callbacks: list | None = None,
    scale: float = 20.0,
    bf16: bool = False,
):
    """sentence-transformers' unsupervised recipe (unsupervised SimCSE): each string paired with itself, dropout
    as the only augmentation, MultipleNegativesRankingLoss (in-batch negatives, cosine x scale 20 = tau 0.05).
    Optimiser settings are Mirror's (AdamW 2e-5 constant, decay 0.01, no clipping, drop_last) so that only the
    objective and the implementation differ."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    args = SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        max_steps=max_steps,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.01,
        max_grad_norm=0.0,
        dataloader_drop_last=True,
        save_strategy="no",
        report_to=[],
        logging_steps=10,
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        bf16=bf16,
    )
    dataset = Dataset.from_dict({"anchor": texts, "positive": texts})
    loss = MultipleNegativesRankingLoss(model, scale=scale)
    return SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, callbacks=callbacks or []
    )


def mirror_trainer(
    model_name: str,
    texts: list[str],
    output_dir: str,
    batch_size: int,
    level: dict,
    max_steps: int,
    precision: str = "fp32",
    threads: int | None = None,
    device: str = "cpu",
    callbacks: list | None = None,
    fast_dropout: bool = True,
    freeze_token_embeddings: bool = False,
    seed: int = 0,
):
    """Mirror's recipe as the benchmarks time it: `MirrorTrainer` over `texts` with a level's settings (`level`:
    mirror.config.level_settings(...): temperature, max_length, span_mask_len), mean pooling, dropout 0.1 (drawn
    by mirror.fast_dropout, as the recipe's default `--fast_dropout` does), `seed` (the epoch's shuffle, the span masks'
    and the dropout masks'), bf16 autocast where
    `precision` is bf16; `freeze_token_embeddings` as the recipe's opt-in flag. Returns (trainer, the encoder's model)."""
    from mirror import MirrorCollator, MirrorConfig, MirrorTrainer, TextDataset, load_encoder

    enc = load_encoder(model_name, pooling="mean", dropout=0.1, fast_dropout=fast_dropout,
                       freeze_token_embeddings=freeze_token_embeddings)
    config = MirrorConfig(
        output_dir=output_dir, per_device_train_batch_size=batch_size, max_steps=max_steps, save_strategy="no",
        report_to=[], logging_steps=10**6, disable_tqdm=True, temperature=level["temperature"], seed=seed,
        bf16=precision == "bf16", use_cpu=device == "cpu", cpu_threads=threads,
    ).for_trainer(enc)  # fmt: skip
    collator = MirrorCollator(enc.tokenizer, max_length=level["max_length"], span_mask_len=level["span_mask_len"], seed=seed)
    trainer = MirrorTrainer(
        model=enc.model, args=config, train_dataset=TextDataset(texts), data_collator=collator,
        processing_class=enc.tokenizer, callbacks=callbacks or [],
    )  # fmt: skip
    return trainer, enc.model


class StepClock(TrainerCallback):
    """Times each training step from the end of the previous one (so data loading and collation count) and
    samples resident memory while training."""

    def __init__(self):
        self.ends: list[float] = []
        self.memory: RssPeak | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())
        self.memory = RssPeak().start()

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def on_train_end(self, args, state, control, **kwargs):
        self.memory.stop()

    def step_times(self, skip: int = 0) -> list[float]:
        return [b - a for a, b in zip(self.ends, self.ends[1:])][skip:]


class count_tokens:
    """Wrap a collator so every batch's real (non-padding) token count is appended to `counter`; every other
    attribute is the wrapped collator's (trainers read some)."""

    def __init__(self, collator, counter: list):
        self._collator, self._counter = collator, counter

    def __call__(self, features):
        batch = self._collator(features)
        self._counter.append(int(sum(v.sum() for k, v in batch.items() if k.endswith("attention_mask"))))
        return batch

    def __getattr__(self, name):
        return getattr(self._collator, name)


def st_transformer(model) -> torch.nn.Module:
    """The transformers model inside a SentenceTransformer."""
    first = model[0]
    return getattr(first, "auto_model", None) or getattr(first, "model")
