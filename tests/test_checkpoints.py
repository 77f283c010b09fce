"""Which checkpoint-N folders are complete (the real Trainer's checkpoints: tests/test_recipe.py)."""

import json

import pytest

from mirror.checkpoints import INCOMPLETE_DIR, checkpoints, missing_parts, newest_complete, set_aside

FULL = ["trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"]


def make(folder, files):
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("x")
    return folder


def test_a_full_checkpoint_lacks_nothing(tmp_path):
    assert missing_parts(make(tmp_path / "checkpoint-3", FULL)) == []


@pytest.mark.parametrize(
    "dropped, words",
    [
        ("trainer_state.json", "trainer_state.json"),
        ("model.safetensors", "model weights (model.safetensors)"),
        ("optimizer.pt", "optimizer state (optimizer.pt)"),
        ("scheduler.pt", "scheduler state (scheduler.pt)"),
    ],
)
def test_each_missing_part_is_named(tmp_path, dropped, words):
    folder = make(tmp_path / "checkpoint-3", [f for f in FULL if f != dropped])
    assert missing_parts(folder) == [words]


def test_save_only_model_needs_no_optimizer_or_scheduler(tmp_path):
    folder = make(tmp_path / "checkpoint-3", ["trainer_state.json", "model.safetensors"])
    assert missing_parts(folder, save_only_model=True) == []
    assert len(missing_parts(folder)) == 2


def test_sharded_weights_need_every_shard_and_fsdp_names_count(tmp_path):
    folder = make(tmp_path / "checkpoint-3", ["trainer_state.json", "optimizer.bin", "scheduler.pt", "a.safetensors"])
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w1": "a.safetensors", "w2": "b.safetensors"}})
    )
    assert missing_parts(folder) == ["model weights (model.safetensors)"]
    (folder / "b.safetensors").write_text("x")
    assert missing_parts(folder) == []


def test_newest_complete_passes_over_newer_incomplete_ones_by_number_not_name(tmp_path):
    make(tmp_path / "checkpoint-9", FULL)
    make(tmp_path / "checkpoint-10", FULL[1:])  # 10 sorts before 9 as text
    make(tmp_path / "checkpoint-12", ["model.safetensors"])
    make(tmp_path / "checkpoint-x", FULL)  # not a checkpoint name
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10", "checkpoint-12"]
    last, passed = newest_complete(tmp_path)
    assert last == tmp_path / "checkpoint-9"
    assert [(p.name, len(missing)) for p, missing in passed] == [("checkpoint-12", 3), ("checkpoint-10", 1)]
    assert newest_complete(tmp_path / "nowhere") == (None, [])


def test_set_aside_moves_out_of_the_checkpoint_names_and_replaces_an_earlier_one(tmp_path):
    make(tmp_path / INCOMPLETE_DIR / "checkpoint-4", ["old"])
    moved = set_aside(make(tmp_path / "checkpoint-4", ["model.safetensors"]))
    assert moved == tmp_path / INCOMPLETE_DIR / "checkpoint-4" and (moved / "model.safetensors").exists()
    assert not (moved / "old").exists() and checkpoints(tmp_path) == [] and not list(tmp_path.glob("checkpoint-*"))
