"""The metadata that makes a transformers checkpoint a sentence-transformers model, read and written.

A saved encoder is a plain `AutoModel` folder plus:

* `modules.json`: a Transformer module followed by a Pooling module (no Normalize module: cosine needs none);
* `1_Pooling/config.json`: the pooling (classic `pooling_mode_*` flags, read by every sentence-transformers
  version, 2.x to 6.x; the sentence-transformers 6 `pooling_mode` layout is read too);
* `sentence_bert_config.json`: the encoding max length; `config_sentence_transformers.json`: cosine similarity;
* `mirror_config.json`: the resolved run configuration (mirror's own record, not read by sentence-transformers).

So `AutoModel`, `SentenceTransformer` and `mirror.load_encoder` all read the folder, and the pooling travels with
the weights. Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .atomic import write_text
from .errors import ConfigError, ModelLoadError

POOLING_CHOICES = ("cls", "mean")
POOLING_DIR = "1_Pooling"
MIRROR_CONFIG_NAME = "mirror_config.json"
ST_CONFIG_NAME = "sentence_bert_config.json"


def check_pooling(pooling: str) -> str:
    if pooling not in POOLING_CHOICES:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLING_CHOICES)}, got {pooling!r}")
    return pooling


def read_pooling(path: str | os.PathLike) -> str | None:
    """The pooling recorded in a checkpoint's sentence-transformers metadata, or None if it has none.

    Reads both the classic (`pooling_mode_cls_token`, `pooling_mode_mean_tokens`) and the sentence-transformers
    6 (`pooling_mode`) layouts; a pooling mirror does not implement (max, weighted, ...) is an error."""
    cfg_path = Path(path) / POOLING_DIR / "config.json"
    if not cfg_path.is_file():
        return None
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if "pooling_mode" in cfg:
        mode = cfg["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:
        modes = [
            name
            for key, name in (
                ("pooling_mode_cls_token", "cls"),
                ("pooling_mode_mean_tokens", "mean"),
                ("pooling_mode_max_tokens", "max"),
                ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
                ("pooling_mode_weightedmean_tokens", "weightedmean"),
                ("pooling_mode_lasttoken", "lasttoken"),
            )
            if cfg.get(key)
        ]
    if len(modes) == 1 and modes[0] in POOLING_CHOICES:
        return modes[0]
    raise ModelLoadError(
        f"{cfg_path}: pooling {modes} is not supported; mirror pools with one of {', '.join(POOLING_CHOICES)} "
        "(override with --pooling)"
    )


def read_max_seq_length(path: str | os.PathLike) -> int | None:
    """The encoding max length in `sentence_bert_config.json`, or None if the folder has none."""
    cfg_path = Path(path) / ST_CONFIG_NAME
    if cfg_path.is_file():
        value = json.loads(cfg_path.read_text(encoding="utf-8")).get("max_seq_length")
        return int(value) if value else None
    return None


def _json(value) -> str:
    return json.dumps(value, indent=2) + "\n"


def write_pooling_metadata(
    path: str | os.PathLike, pooling: str, hidden_size: int, max_seq_length: int, do_lower_case: bool = False
) -> None:
    """Write sentence-transformers' classic metadata: a Transformer module followed by a Pooling module with the
    given pooling, and no Normalize module (cosine needs none)."""
    if pooling not in POOLING_CHOICES:
        raise ConfigError(f"unknown pooling {pooling!r}")
    path = Path(path)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_DIR, "type": "sentence_transformers.models.Pooling"},
    ]
    pooling_cfg = {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    write_text(path / "modules.json", _json(modules))
    write_text(path / POOLING_DIR / "config.json", _json(pooling_cfg))
    write_text(path / ST_CONFIG_NAME, _json({"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}))
    write_text(
        path / "config_sentence_transformers.json",
        _json({"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"}),
    )


def write_run_config(path: str | os.PathLike, run_config: dict) -> None:
    write_text(Path(path, MIRROR_CONFIG_NAME), json.dumps(run_config, indent=2, sort_keys=True) + "\n")


def read_run_config(path: str | os.PathLike) -> dict:
    """A folder's `mirror_config.json`, checked to have the model, data and training sections."""
    cfg_path = Path(path) / MIRROR_CONFIG_NAME
    run = json.loads(cfg_path.read_text(encoding="utf-8"))
    for section in ("model", "data", "training"):
        if not isinstance(run.get(section), dict):
            raise ModelLoadError(f"{cfg_path}: no '{section}' section; not a mirror run config")
    return run


def write_encoder_metadata(
    path: str | os.PathLike, pooling: str, hidden_size: int, max_seq_length: int, run_config: dict | None = None
) -> None:
    """Everything a saved encoder holds beside the transformers checkpoint: the sentence-transformers metadata and,
    if given, the run configuration."""
    write_pooling_metadata(path, pooling, hidden_size, max_seq_length)
    if run_config is not None:
        write_run_config(path, run_config)
