"""The model card (README.md) of a saved encoder, rendered from `templates/model_card.md` with jinja2.

Everything the card states comes from the encoder folder (`mirror_config.json`, the sentence-transformers
metadata, `config.json`), from the evaluation results given, or from the repository facts in
`templates/card_facts.json` (shipped corpora and their languages, base-model licences, packaged models); this
module only turns those into the template's values: YAML front matter, the recipe table, the recipe as YAML, the
evaluation table, and the pooling the usage snippets spell out. A little over 300 lines: the wording of each
recipe-table row lives here, beside the values it formats (the prose is in the template).
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml
from huggingface_hub import ModelCardData

from .errors import DataError
from .hub import CARD_NAME, check_encoder_dir, resolve_model_path
from .st_format import read_max_seq_length, read_pooling, read_run_config

logger = logging.getLogger(__name__)

DEV_RESULTS_NAME = "dev_results.json"  # <output_dir>/dev_results.json: written by the recipe, shown by the card
TEMPLATE_NAME = "model_card.md"
FACTS_NAME = "card_facts.json"

# The settings the card's recipe YAML lists, by run-config section (the rest are defaults or bookkeeping).
RECIPE_KEYS = {
    "model": ("model_name_or_path", "pooling", "dropout", "drophead"),
    "data": ("train_file", "dataset_name", "dataset_config_name", "dataset_split", "text_column", "deduplicate",
             "max_train_samples", "max_length", "span_mask_len", "min_mask_chars"),
    "training": ("temperature", "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm",
                 "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs", "max_steps", "seed",
                 "bf16", "fp16"),
}
POOLING_TEXT = {
    "cls": "cls: the first token's last hidden state (before any pooler)",
    "mean": "mean: average of the last hidden states over real (non-padding) tokens",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _package_file(name: str) -> str:
    return resources.files("mirror").joinpath("templates", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def facts() -> dict[str, Any]:
    """The repository facts (`templates/card_facts.json`), without the `_about` notes."""

    def strip(value):
        return {k: strip(v) for k, v in value.items() if k != "_about"} if isinstance(value, dict) else value

    return strip(json.loads(_package_file(FACTS_NAME)))


# ---- what the card is made of -----------------------------------------------------------------------------------


def base_model_id(name_or_path: str) -> str | None:
    """The Hub id of the base model: a packaged model's Hub original, a Hub id as is, None for a local folder."""
    packaged = facts()["packaged_models"]
    if name_or_path in packaged:
        return packaged[name_or_path]
    if Path(name_or_path).expanduser().exists() or not _HUB_ID.match(name_or_path):
        return None
    return name_or_path


def base_license(name_or_path: str) -> str | None:
    """The base model's licence: from its card on disk (a local folder or an installed package), else the facts."""
    local = Path(resolve_model_path(name_or_path))
    if (local / CARD_NAME).is_file():
        front = _front_matter(local / CARD_NAME)
        if isinstance(front.get("license"), str):
            return front["license"]
    return facts()["licenses"].get(base_model_id(name_or_path) or name_or_path)


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, flags=re.S)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def corpus_hints(run_config: dict) -> dict[str, Any]:
    """Front-matter `datasets` / `language` for the run's corpus: a Hub dataset id as given, shipped files from
    the facts (data/README.md says where each comes from), nothing for other local files."""
    data = run_config.get("data", {})
    if data.get("dataset_name") and not data.get("train_file"):
        return {"datasets": [data["dataset_name"]]}
    train_file = data.get("train_file")
    if not train_file:
        return {}
    path = Path(train_file)
    shipped = facts()["shipped_corpora"].get(f"{path.parent.name}/{path.name}")
    if shipped is not None:
        return json.loads(json.dumps(shipped))  # a copy: the facts are cached
    if path.parent.name == "words" and path.stem in facts()["word_languages"]:
        return {"language": path.stem}
    return {}


def load_results(results: pd.DataFrame | str | os.PathLike | None) -> pd.DataFrame | None:
    """An evaluation table: a DataFrame, or a CSV the evaluation suite wrote (first column `model`, one numeric
    column per benchmark, plus an average)."""
    if results is None:
        return None
    source = "results"
    if not isinstance(results, pd.DataFrame):
        source = str(results)
        path = Path(results)
        if not path.is_file():
            raise DataError(f"{path}: no such results file")
        try:
            results = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"{path}: not a readable CSV: {err}") from None
    if results.index.name == "model":
        results = results.reset_index()
    if results.empty or len(results.columns) < 2 or results.columns[0] != "model":
        raise DataError(
            f"{source}: expected a first column 'model' and one column per benchmark, got columns {list(results.columns)}"
        )
    if not any(pd.api.types.is_numeric_dtype(results[c]) for c in results.columns[1:]):
        raise DataError(f"{source}: no numeric benchmark column in {list(results.columns[1:])}")
    return results


def load_dev_results(encoder_dir: str | os.PathLike, run_config: dict | None = None) -> pd.DataFrame | None:
    """The recipe's STS-B dev before/after rows (`<output_dir>/dev_results.json`, beside `<output_dir>/final`).

    With `run_config`, rows from another run are ignored: the run must have had an `stsb_dev_file`, and the
    'after' row must name this run's `<output_dir>/final`."""
    path = Path(encoder_dir).resolve().parent / DEV_RESULTS_NAME
    if not path.is_file():
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        table = pd.DataFrame(rows)[["model", "stsb_dev_spearman"]]
    except (json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
        raise DataError(f"{path}: not the recipe's dev results (a list of {{model, stsb_dev_spearman}}): {err}") from None
    if run_config is not None:
        data, training = run_config.get("data", {}), run_config.get("training", {})
        final = str(Path(str(training.get("output_dir", ""))) / Path(encoder_dir).name)
        if not data.get("stsb_dev_file") or f"{final} (after)" not in set(table["model"]):
            logger.warning(f"{path}: from another run than {encoder_dir}; not shown in the card")
            return None
    return table


# ---- the card -------------------------------------------------------------------------------------------------------


def model_card(
    encoder_dir: str | os.PathLike,
    repo_id: str,
    results: pd.DataFrame | str | os.PathLike | None = None,
    license: str | None = None,
) -> str:
    """The model card (README.md text) of a saved encoder, generated from its `mirror_config.json`.

    results: the evaluation suite's table (DataFrame or results CSV). Without one, the recipe's STS-B dev
    before/after numbers (`dev_results.json` beside the encoder folder) are shown, labelled as such, if present.
    """
    encoder_dir = Path(encoder_dir)
    check_encoder_dir(encoder_dir)
    run = read_run_config(encoder_dir)
    base = run["model"].get("model_name_or_path", "?")
    base_id = base_model_id(base)
    hints = corpus_hints(run)
    pooling = read_pooling(encoder_dir)
    card_data = ModelCardData(
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=list(facts()["tags"]),
        base_model=base_id,
        datasets=hints.get("datasets"),
        language=hints.get("language"),
        license=license or base_license(base) or "unknown",
    )
    table = load_results(results)
    dev = load_dev_results(encoder_dir, run) if table is None else None
    base_text = f"[`{base_id}`](https://huggingface.co/{base_id})" if base_id else f"`{base}` (a local checkpoint)"
    if base_id and base_id != base:
        base_text += f" (the packaged copy `{base}`)"
    max_seq_length = read_max_seq_length(encoder_dir)
    template = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    return template.from_string(_package_file(TEMPLATE_NAME)).render(
        front_matter=card_data.to_yaml(),
        name=repo_id.split("/")[-1],
        repo_id=repo_id,
        hidden=json.loads((encoder_dir / "config.json").read_text(encoding="utf-8")).get("hidden_size"),
        base_text=base_text,
        masked=bool(run["data"].get("span_mask_len", 0)),
        recipe_rows=recipe_rows(run, pooling, max_seq_length),
        recipe_yaml=recipe_yaml(run),
        results_table=_markdown(table) if table is not None else None,
        results_file=None if table is None or isinstance(results, pd.DataFrame) else Path(results).name,
        dev_table=_markdown(dev.rename(columns={"stsb_dev_spearman": "STS-B dev Spearman × 100"})) if dev is not None else None,
        pooling=pooling,
        max_seq_length=max_seq_length,
    )


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, floatfmt=".2f")


def _batch_text(run: dict) -> str:
    training = run["training"]
    world = run.get("world_size")
    per_device = training.get("per_device_train_batch_size")
    accumulation = training.get("gradient_accumulation_steps", 1)
    if not world:
        return f"{per_device} strings per process ({2 * per_device} rows after duplication)"
    batch = f"{per_device} strings per process × {world} process(es)"
    if accumulation and accumulation > 1:
        batch += f" × {accumulation} accumulation steps"
    total = per_device * world * (accumulation or 1)
    batch += f" = {total} strings ({2 * total} rows after duplication)"
    if world > 1:
        batch += "; negatives " + ("from the global batch" if training.get("global_negatives") else "per process")
    return batch


def _optimiser_text(training: dict) -> str:
    clipping = (
        f"gradients clipped at norm {training['max_grad_norm']}" if training.get("max_grad_norm") else "no gradient clipping"
    )
    return (
        f"AdamW, learning rate {training.get('learning_rate')}, {training.get('lr_scheduler_type')} schedule, "
        f"{training.get('warmup_steps') or 0} warm-up steps, weight decay {training.get('weight_decay')}, {clipping}"
    )


def _corpus_text(run: dict) -> str:
    data, corpus = run["data"], run.get("corpus") or {}
    text = f"`{corpus.get('source') or data.get('train_file') or data.get('dataset_name')}`"
    if corpus.get("kept") is not None:
        text += (
            f": {corpus['kept']} distinct strings kept of {corpus.get('read')} read "
            f"({corpus.get('duplicates', 0)} duplicates, {corpus.get('blank', 0)} blank, "
            f"{corpus.get('sampled_out', 0)} sampled out)"
        )
    return text


def recipe_rows(run: dict, pooling: str | None, max_seq_length: int | None) -> list[tuple[str, Any]]:
    """The card's recipe table as (setting, value) rows, every value from the run config or the metadata."""
    model, data, training = run["model"], run["data"], run["training"]
    span = data.get("span_mask_len", 0)
    span_text = (
        f"{span} characters of the second copy replaced by the mask token (strings of "
        f"{data.get('min_mask_chars')}+ characters)"
        if span
        else "off"
    )
    max_steps, epochs = training.get("max_steps", -1), training.get("num_train_epochs")
    length = f"{epochs:g} epoch{'' if epochs == 1 else 's'}" + (
        f", stopped at {max_steps} steps" if max_steps and max_steps > 0 else ""
    )
    precision = "bf16 autocast" if training.get("bf16") else "fp16 autocast" if training.get("fp16") else "fp32"
    return [
        ("base model", f"`{model.get('model_name_or_path')}`"),
        ("pooling", POOLING_TEXT.get(pooling or "", str(pooling))),
        ("temperature τ", training.get("temperature")),
        ("span masking", span_text),
        ("dropout (hidden and attention)", model.get("dropout")),
        ("drophead (whole attention heads)", model.get("drophead") or "off"),
        ("optimiser", _optimiser_text(training)),
        ("batch", _batch_text(run)),
        ("training length", length),
        ("max length (training)", f"{data.get('max_length')} tokens"),
        ("max length (encoding)", f"{max_seq_length} tokens"),
        ("corpus", _corpus_text(run)),
        ("seed", training.get("seed")),
        ("precision", precision + " (similarities and loss in fp32)"),
    ]


def recipe_yaml(run: dict) -> str:
    """The run's non-default settings as a recipe YAML that `recipes/train_sentence.py --config` accepts."""
    settings = {}
    for section, keys in RECIPE_KEYS.items():
        for key in keys:
            value = run[section].get(key)
            if value is None or (key == "max_steps" and value <= 0) or (key in ("bf16", "fp16") and not value):
                continue
            if section == "data" and run["data"].get("train_file") and key.startswith("dataset"):
                continue
            if key == "text_column" and not _has_columns(run["data"]):
                continue
            settings[key] = value
    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)


def _has_columns(data: dict) -> bool:
    train_file = re.sub(r"\.(gz|bz2|xz|zst)$", "", str(data.get("train_file") or ""))  # the compression suffix
    return train_file.endswith((".csv", ".tsv", ".json", ".jsonl", ".parquet")) or not train_file and bool(data.get("dataset_name"))
