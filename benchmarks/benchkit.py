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


def matmul_peak_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matrix-product throughput of this machine at `threads` threads (the practical peak)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


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


def peer_model(model_path: str, max_length: int, device: str = "cpu"):
    """The peer's encoder: sentence-transformers' Transformer + mean (or the checkpoint's) pooling."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device=device)
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
