"""Which `checkpoint-N` folders can be resumed: the Trainer writes a checkpoint in place, so a run killed while
writing one leaves a folder that has the name but not the contents.

What transformers 5.x `Trainer._save_checkpoint` writes, in this order: the weights (`model.safetensors`, or the
shards and their index, with mirror's pooling metadata), then, unless `save_only_model`, the optimizer
(`optimizer.pt`; `optimizer.bin` or `optimizer_0/` under FSDP), the scheduler (`scheduler.pt`), the gradient scaler
(fp16 only) and the random states (`rng_state.pth`, one `rng_state_<rank>.pth` per process), and last
`trainer_state.json`. A checkpoint is *complete* when it has `trainer_state.json`, weights and, unless the run saves
only the model, optimizer and scheduler state. (The random states are written before `trainer_state.json` on the
main process; a missing one only makes the Trainer warn that the resumed run is not exactly reproducible.)

* `missing_parts(folder, save_only_model)`: what a checkpoint lacks ([] when complete).
* `newest_complete(output_dir, save_only_model)`: the newest complete checkpoint and the newer incomplete ones.
* `set_aside(folder)`: move an incomplete checkpoint to `<output_dir>/incomplete/`, out of the Trainer's sight:
  its rotation (`save_total_limit`) keeps the newest checkpoint, by mtime or, when the mtimes are within a second,
  by number, so an incomplete `checkpoint-12` left beside a resumed run's `checkpoint-11` would be kept and the
  complete ones deleted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
INCOMPLETE_DIR = "incomplete"
STATE = "trainer_state.json"
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "pytorch_model_fsdp.bin", "pytorch_model_fsdp_0")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
OPTIMIZER = ("optimizer.pt", "optimizer.bin", "optimizer_0")
SCHEDULER = "scheduler.pt"


def checkpoint_step(folder: str | os.PathLike) -> int | None:
    match = CHECKPOINT.match(Path(folder).name)
    return int(match.group(1)) if match else None


def missing_parts(folder: str | os.PathLike, save_only_model: bool = False) -> list[str]:
    """What a checkpoint folder lacks to be resumed, in words ([] when it is complete)."""
    folder = Path(folder)
    missing = []
    if not (folder / STATE).is_file():
        missing.append(STATE)
    if not _has_weights(folder):
        missing.append("model weights (model.safetensors)")
    if not save_only_model:
        if not any((folder / name).exists() for name in OPTIMIZER):
            missing.append("optimizer state (optimizer.pt)")
        if not (folder / SCHEDULER).is_file():
            missing.append(f"scheduler state ({SCHEDULER})")
    return missing


def _has_weights(folder: Path) -> bool:
    if any((folder / name).exists() for name in WEIGHTS):
        return True
    for index in WEIGHT_INDEXES:  # sharded weights: the index and every shard it names
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values())
            except (ValueError, KeyError, TypeError):
                return False
            return all((folder / shard).is_file() for shard in shards)
    return False


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of a run, oldest (smallest N) first."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=checkpoint_step)


def newest_complete(
    output_dir: str | os.PathLike, save_only_model: bool = False
) -> tuple[Path | None, list[tuple[Path, list[str]]]]:
    """(the newest complete checkpoint or None, [(each newer incomplete checkpoint, what it lacks)], newest first)."""
    passed_over = []
    for folder in reversed(checkpoints(output_dir)):
        missing = missing_parts(folder, save_only_model)
        if not missing:
            return folder, passed_over
        passed_over.append((folder, missing))
    return None, passed_over


def set_aside(folder: str | os.PathLike) -> Path:
    """Move an incomplete checkpoint to `<output_dir>/incomplete/<name>` (replacing an earlier one there)."""
    folder = Path(folder)
    dest = folder.parent / INCOMPLETE_DIR / folder.name
    dest.parent.mkdir(exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(folder, dest)
    return dest


RESUME_LAST = ("last", "true", "1", "yes")  # what --resume_from_checkpoint accepts for the newest complete one


def without_resume(argv: Sequence[str]) -> list[str]:
    """argv less any `--resume_from_checkpoint X` / `--resume_from_checkpoint=X`."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--resume_from_checkpoint":
            skip = True
        elif not arg.startswith("--resume_from_checkpoint="):
            kept.append(arg)
    return kept
