"""Training curves: the per-step CSV, the PNG figure, and TensorBoard through --report_to."""

import csv

import pytest

from mirror.curves import COLUMNS, FIGURE_NAME, LOG_NAME, TrainingCurves, plot_training_curves, read_training_log

from test_trainer import make_trainer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_log_csv_and_figure_are_written(tiny_bert, sentences, tmp_path):
    trainer, _ = make_trainer(tiny_bert, sentences[:32], tmp_path, max_steps=4, pooling="mean")
    trainer.add_callback(TrainingCurves(title="tiny"))
    trainer.train()
    out = tmp_path / "run"
    with open(out / LOG_NAME, newline="") as f:
        header = next(csv.reader(f))
    assert header[: len(COLUMNS)] == list(COLUMNS)
    rows = read_training_log(out / LOG_NAME)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in ("loss", "learning_rate", "pos_cos", "neg_cos", "alignment", "uniformity"):
        assert all(key in r for r in rows), key
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert [r["loss"] for r in rows] == pytest.approx([h["loss"] for h in logged])
    png = (out / FIGURE_NAME).read_bytes()
    assert png[:8] == PNG_SIGNATURE
    import matplotlib.image

    image = matplotlib.image.imread(out / FIGURE_NAME)
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert not list(out.glob("*.tmp*"))


def test_plot_tolerates_missing_series_and_refuses_nothing(tmp_path):
    path = plot_training_curves([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}], tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="no training log rows"):
        plot_training_curves([], tmp_path / "d.png")


def test_tensorboard_gets_the_mirror_scalars(tiny_bert, sentences, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    trainer, _ = make_trainer(tiny_bert, sentences[:32], tmp_path, max_steps=3, report_to=["tensorboard"])
    trainer.train()
    events = list((tmp_path / "run" / "runs").rglob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "train/pos_cos", "train/neg_cos", "train/alignment", "train/uniformity"} <= tags
    assert len(acc.Scalars("train/pos_cos")) == 3
