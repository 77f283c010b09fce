"""Sharing a trained encoder: its model card plus the upload of the encoder folder, as one step after training.

* `push_encoder(encoder_dir, repo_id, ...)`: render the card (`mirror.card`), stage the folder and upload it
  (`mirror.hub`); with `dry_run=<dir>` only write the staged folder there (no network).
* `HubTarget.from_config(args)`: the recipe's hub flags (`--push_to_hub`, `--hub_model_id`, `--hub_token`,
  `--hub_private_repo`, `--hub_revision`, `--hub_dry_run`), read by the recipe before it builds the Trainer
  (which runs with `push_to_hub=False`, so the stock Trainer never creates a repo or pushes a checkpoint);
  `share_encoder(final_dir, target)` pushes the final encoder with them.
* `PushArguments`: the flags of `recipes/push_to_hub.py`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .card import model_card
from .errors import ConfigError
from .hub import check_encoder_dir, check_repo_id, create_repo, hub_offline, stage_upload, upload_folder

logger = logging.getLogger(__name__)

COMMIT_MESSAGE = "Upload Mirror-BERT encoder"


def push_encoder(
    encoder_dir: str | os.PathLike,
    repo_id: str,
    *,
    results: pd.DataFrame | str | os.PathLike | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    license: str | None = None,
    commit_message: str = COMMIT_MESSAGE,
    dry_run: str | os.PathLike | None = None,
) -> str:
    """Upload a saved encoder with its model card; return the repo URL (or, with `dry_run`, the folder written).

    dry_run: write exactly the folder that would be uploaded to this path and touch no network. The card's usage
    examples name `repo_id` as given; on a real push, the namespace the Hub resolves ('name' -> 'user/name').
    """
    encoder_dir = Path(encoder_dir)
    check_repo_id(repo_id, "--hub_model_id")
    check_encoder_dir(encoder_dir)
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
    repo = create_repo(repo_id, token=token, private=private, revision=revision)
    with tempfile.TemporaryDirectory(prefix="mirror-upload-") as tmp:
        staged = stage_upload(encoder_dir, Path(tmp) / "upload", model_card(encoder_dir, repo.repo_id, results, license))
        upload_folder(staged, repo.repo_id, token=token, revision=revision, commit_message=commit_message)
    logger.info(f"Pushed {encoder_dir} to {repo}")
    return str(repo)


@dataclass(frozen=True)
class HubTarget:
    """Where a training run shares its final encoder: the Trainer's own hub arguments plus `hub_dry_run`."""

    repo_id: str
    token: str | None = field(default=None, repr=False)
    private: bool | None = None
    revision: str | None = None
    dry_run: str | None = None

    @classmethod
    def from_config(cls, args) -> HubTarget | None:
        """The target the flags ask for (None without `--push_to_hub` or `--hub_dry_run`). Without
        `--hub_model_id` the repo is named after `output_dir`, as the Trainer does. The flags were validated when
        the config was built (`mirror.hub.check_hub_settings`)."""
        if not (args.push_to_hub or args.hub_dry_run):
            return None
        return cls(
            repo_id=args.hub_model_id or Path(args.output_dir).absolute().name,
            token=args.hub_token,
            private=args.hub_private_repo,
            revision=args.hub_revision,
            dry_run=args.hub_dry_run or None,
        )


def share_encoder(encoder_dir: str | os.PathLike, target: HubTarget, results=None) -> str:
    """`push_encoder` to `target` (a dry run if it has one)."""
    return push_encoder(
        encoder_dir,
        target.repo_id,
        results=results,
        token=target.token,
        private=target.private,
        revision=target.revision,
        dry_run=target.dry_run,
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
    commit_message: str = field(default=COMMIT_MESSAGE, metadata={"help": "Commit message."})
