"""The training recipe shared by `recipes/train_sentence.py` and `recipes/train_word.py`, top to bottom:
parse -> load corpus -> load encoder -> collator -> trainer -> (dev score) -> train -> save -> (dev score)
-> (share: push the final encoder to the Hub, or write the dry-run folder).

Sharing is a plain step after training: the hub flags are read here (`HubTarget.from_config`) and the trainer
runs with `push_to_hub=False`. The world size is `training_args.world_size` throughout. From the dev score before
training to the final save, SIGTERM/SIGINT mean "checkpoint after this step, then exit 143/130 with the resume
command" (`mirror.preemption`); `--resume_from_checkpoint last` is the newest complete checkpoint
(`mirror.checkpoints`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import transformers
from transformers import set_seed

from .atomic import write_text
from .card import DEV_RESULTS_NAME
from .checkpoints import RESUME_LAST, missing_parts, newest_complete, set_aside
from .collator import MirrorCollator
from .config import LEVELS, DataArguments, MirrorArgumentParser, MirrorConfig, ModelArguments, resolved_config
from .curves import TrainingCurves
from .data import TextDataset, load_corpus
from .encoder import load_encoder
from .errors import ConfigError, DataError, ModelLoadError
from .evaluation.datadir import DOWNLOAD_COMMAND, default_data_dir
from .evaluation.sources import load_sources
from .evaluation.sts import load_stsb, score_sts
from .pairs import load_pairs
from .preemption import Preemption
from .share import HubTarget, share_encoder
from .st_format import read_run_config
from .trainer import MirrorTrainer

logger = logging.getLogger("mirror")

FINAL_DIR = "final"
PRECISION_NAMES = {"no": "fp32", "bf16": "bf16 autocast (loss in fp32)", "fp16": "fp16 autocast (loss in fp32)"}
BENCHMARKS = "{benchmarks}"  # in --train_file: the benchmark folder, default_data_dir()


def parse_args(argv: list[str] | None, level: str = "sentence") -> tuple[ModelArguments, DataArguments, MirrorConfig]:
    """The run's settings: the level's defaults (`config.LEVELS`), then `--config` YAML, then the flags."""
    if level not in LEVELS:
        raise ConfigError(f"level {level!r}: choose one of {', '.join(LEVELS)}")
    parser = MirrorArgumentParser()
    parser.set_defaults(**LEVELS[level])
    return parser.parse(argv)


def setup_logging(training_args: MirrorConfig) -> None:
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    logger.setLevel(level)
    logging.getLogger("mirror").setLevel(level)
    transformers.utils.logging.set_verbosity(logging.WARNING)


def configure_cpu_threads(training_args: MirrorConfig) -> int | None:
    """On the CPU, give each process its share of the cores (`accelerate launch` sets OMP_NUM_THREADS=1 for a
    single CPU process, which halves a 2-core machine). Returns the thread count set, None on a GPU."""
    if training_args.device.type != "cpu":
        return None
    threads = training_args.cpu_threads
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        local_procs = int(os.environ.get("LOCAL_WORLD_SIZE", training_args.world_size or 1))
        threads = max(1, cores // max(1, local_procs))
    torch.set_num_threads(threads)
    return threads


def check_output_dir(training_args: MirrorConfig) -> tuple[Path, list[Path]]:
    """Refuse to train over an earlier run unless told to resume it or to overwrite it.

    Returns <output_dir>/final and, with --overwrite_output_dir, the earlier run's checkpoints, which the recipe
    deletes once every other input has been checked (so they cannot mix with the new run's). The earlier final
    encoder is replaced only when the new one is complete."""
    out = Path(training_args.output_dir)
    final = out / FINAL_DIR
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output_dir {out}: exists and is not a folder")
    checkpoints = sorted(out.glob("checkpoint-*")) if out.is_dir() else []
    if training_args.resume_from_checkpoint or not (final.exists() or checkpoints):
        return final, []
    if not training_args.overwrite_output_dir:
        if final.exists():
            raise ConfigError(
                f"--output_dir {out} already holds a finished encoder ({final}); pass --overwrite_output_dir to "
                "replace it, or choose another --output_dir"
            )
        raise ConfigError(
            f"--output_dir {out} holds checkpoints of an unfinished run ({checkpoints[-1].name}); continue it with "
            "--resume_from_checkpoint last, or pass --overwrite_output_dir to start over"
        )
    return final, checkpoints


def expand_train_file(value: str | None) -> str | None:
    """`--train_file` with `{benchmarks}` (the folder eval/download_benchmarks.py fills), $VAR and ~ expanded.
    A missing file under `{benchmarks}` is a one-line error naming the download command that fetches it."""
    if not value:
        return value
    path = Path(os.path.expandvars(value.replace(BENCHMARKS, str(default_data_dir())))).expanduser()
    if value.startswith(BENCHMARKS) and not path.exists():
        parts = Path(value[len(BENCHMARKS) :].lstrip("/\\")).parts
        task = next((b.name for b in load_sources().values() if parts and b.folder == parts[0]), None)
        fetch = f'{DOWNLOAD_COMMAND} --tasks "{task}"' if task else f"{DOWNLOAD_COMMAND} (see --list)"
        raise DataError(
            f"--train_file {path}: no such file; it is a benchmark file, fetch it into {default_data_dir()} with `{fetch}`"
        )
    return str(path)


def load_training_data(data_args: DataArguments, seed: int) -> tuple[TextDataset, list[str], Any]:
    """The dataset (strings, or positive pairs with --pair_columns / --pairwise), every string in it, its stats."""
    where = (data_args.train_file, data_args.dataset_name, data_args.dataset_config_name, data_args.dataset_split)
    kept = dict(deduplicate=data_args.deduplicate, max_train_samples=data_args.max_train_samples, seed=seed)
    if data_args.pair_columns or data_args.pairwise:
        pairs, stats = load_pairs(*where, data_args.pair_columns, data_args.pairwise, **kept)
        return TextDataset(pairs=pairs), [s for pair in pairs for s in pair], stats
    texts, stats = load_corpus(*where, data_args.text_column, **kept)
    return TextDataset(texts), texts, stats


def count_truncated(texts: list[str], tokenizer, max_length: int) -> dict[str, int]:
    """How many strings are longer than max_length tokens (they are truncated, not dropped)."""
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    over = [n for n in lengths if n > max_length]
    return {"truncated": len(over), "longest_tokens": max(lengths, default=0)}


def check_resumed_table(checkpoint: str, model_args: ModelArguments) -> None:
    """A checkpoint resumes only with the --freeze_token_embeddings it was trained with: its optimizer state holds
    moments for the token-embedding table exactly when the table was trained (otherwise torch would fail deep in
    `load_state_dict`). A checkpoint without a readable run configuration is left to the Trainer."""
    try:
        saved = read_run_config(checkpoint)["model"]
    except (OSError, ValueError, ModelLoadError):
        return
    frozen = bool(saved.get("freeze_token_embeddings", False))
    if frozen != model_args.freeze_token_embeddings:
        raise ConfigError(
            f"--resume_from_checkpoint {checkpoint}: it was trained with --freeze_token_embeddings "
            f"{str(frozen).lower()}; resume it with the same setting, or start over with --overwrite_output_dir"
        )


def resolve_checkpoint(training_args: MirrorConfig) -> str | None:
    """`--resume_from_checkpoint last` (or true) means the newest *complete* checkpoint-N in output_dir
    (`mirror.checkpoints`: trainer_state.json, weights and, unless --save_only_model, optimizer and scheduler).

    Newer incomplete ones (a kill while the Trainer wrote them) are passed over with a log line and moved to
    <output_dir>/incomplete/ by the saving process, so the Trainer's rotation cannot keep them instead of a complete
    one. An explicit incomplete checkpoint, or `last` with no complete one, is a one-line error."""
    value = training_args.resume_from_checkpoint
    if value is None or value == "":
        return None
    only_model = training_args.save_only_model
    if str(value).lower() in RESUME_LAST:
        out = training_args.output_dir
        last, passed_over = newest_complete(out, only_model)
        if last is None:
            where = (
                "; ".join(f"{folder.name} lacks {', '.join(missing)}" for folder, missing in passed_over)
                if passed_over else "no checkpoint-N folder"
            )
            raise ConfigError(
                f"--resume_from_checkpoint {value}: no complete checkpoint in {out} ({where}); "
                "start over with --overwrite_output_dir"
            )
        for folder, missing in passed_over:
            if training_args.should_save:
                moved = set_aside(folder)
                logger.warning(
                    f"--resume_from_checkpoint {value}: passing over {folder.name} (incomplete, no "
                    f"{', '.join(missing)}: it was being written when the run stopped); moved it to {moved}"
                )
        return str(last)
    if not Path(value).is_dir():
        raise ConfigError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    missing = missing_parts(value, only_model)
    if missing:
        raise ConfigError(
            f"--resume_from_checkpoint {value}: incomplete checkpoint, no {', '.join(missing)} (it was being "
            "written when the run stopped); give an earlier checkpoint-N, or --resume_from_checkpoint last for "
            "the newest complete one"
        )
    return value


def dev_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("model")


def train(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: MirrorConfig,
    callbacks: list | None = None,
) -> dict[str, Any]:
    """Run one Mirror-BERT training and return {'encoder_dir', 'train_loss', 'dev', 'log_history'}.

    Every input is checked before training starts (corpus, model, settings, output folder); `callbacks` are extra
    `TrainerCallback`s. On SIGTERM/SIGINT it saves a checkpoint, prints the resume command and raises
    `mirror.preemption.Preempted` (a SystemExit: status 143 / 130) instead of returning."""
    setup_logging(training_args)
    final_dir, stale_checkpoints = check_output_dir(training_args)
    checkpoint = resolve_checkpoint(training_args)
    if checkpoint is not None:
        check_resumed_table(checkpoint, model_args)
    set_seed(training_args.seed)
    threads = configure_cpu_threads(training_args)

    data_args = dataclasses.replace(data_args, train_file=expand_train_file(data_args.train_file))
    dataset, texts, stats = load_training_data(data_args, training_args.seed)
    kind = "pairs" if dataset.partners else "strings"
    global_batch = training_args.per_device_train_batch_size * training_args.world_size
    if len(dataset) < global_batch:
        raise DataError(
            f"{stats.source}: {len(dataset)} distinct {kind}, fewer than one global batch of {global_batch} "
            f"(--per_device_train_batch_size {training_args.per_device_train_batch_size} x {training_args.world_size} "
            f"processes); lower the batch size or add {kind}"
        )
    dev = load_stsb(data_args.stsb_dev_file) if data_args.stsb_dev_file else None

    hub_target = HubTarget.from_config(training_args)
    encoder = load_encoder(
        model_args.model_name_or_path,
        pooling=training_args.pooling,
        dropout=model_args.dropout,
        drophead=model_args.drophead,
        fast_dropout=model_args.fast_dropout,
        freeze_token_embeddings=model_args.freeze_token_embeddings,
        attn_implementation=model_args.attn_implementation,
        max_seq_length=training_args.max_seq_length,
    )
    if data_args.span_mask_len > 0 and encoder.tokenizer.mask_token is None:
        raise ConfigError(
            f"--span_mask_len {data_args.span_mask_len}: the tokenizer of {model_args.model_name_or_path} has no "
            "mask token; use --span_mask_len 0"
        )
    lengths = count_truncated(texts, encoder.tokenizer, data_args.max_length)
    if lengths["truncated"]:
        logger.info(
            f"{lengths['truncated']} of {len(texts)} strings are longer than --max_length {data_args.max_length} "
            f"tokens (longest {lengths['longest_tokens']}) and will be truncated"
        )
    collator = MirrorCollator(
        encoder.tokenizer,
        max_length=data_args.max_length,
        span_mask_len=data_args.span_mask_len,
        min_mask_chars=data_args.min_mask_chars,
        seed=training_args.seed,
    )
    run_config = resolved_config(
        model_args,
        data_args,
        training_args,
        encoder,  # the pooling and max length it resolved (from the checkpoint's metadata where not given)
        corpus={**vars(stats), **lengths},
        world_size=training_args.world_size,
    )
    trainer = MirrorTrainer(
        model=encoder.model,
        args=training_args.for_trainer(encoder, run_config),
        train_dataset=dataset,
        data_collator=collator,
        processing_class=encoder.tokenizer,
        callbacks=[TrainingCurves(title=f"Mirror-BERT: {model_args.model_name_or_path}"), *(callbacks or [])],
    )
    logger.info(
        f"model {model_args.model_name_or_path} ({encoder.pooling} pooling, dropout {model_args.dropout}"
        f"{f', drophead {model_args.drophead}' if model_args.drophead else ''}), "
        f"{len(dataset)} {kind}, global batch {global_batch} x 2 rows, temperature {training_args.temperature}, "
        f"span mask {data_args.span_mask_len} chars, precision {PRECISION_NAMES.get(trainer.accelerator.mixed_precision, trainer.accelerator.mixed_precision)} on "
        f"{trainer.args.device} x {training_args.world_size} process(es)"
        + (f", {threads} CPU threads each" if threads else "")
    )

    if training_args.gradient_accumulation_steps > 1:
        logger.warning(
            f"--gradient_accumulation_steps {training_args.gradient_accumulation_steps}: each micro-batch of "
            f"{global_batch} strings is contrasted only with itself, so accumulation does not add negatives; "
            "for more negatives use more processes or a larger --per_device_train_batch_size"
        )

    if stale_checkpoints and trainer.is_world_process_zero():
        logger.info(f"--overwrite_output_dir: deleting {len(stale_checkpoints)} checkpoint(s) of the earlier run")
        for ckpt in stale_checkpoints:
            shutil.rmtree(ckpt)

    preemption = Preemption()
    trainer.add_callback(preemption)  # the last callback: a signal noticed during the others' on_step_end counts
    rows = []
    with preemption:  # SIGTERM/SIGINT: a checkpoint after the current step, then exit 128 + the signal number
        if dev is not None and trainer.is_world_process_zero():
            rows.append({"model": f"{model_args.model_name_or_path} (before)", **_dev_row(trainer, dev)})
        result = trainer.train(resume_from_checkpoint=checkpoint)
        if preemption.step is not None:
            trainer.accelerator.wait_for_everyone()  # every rank has written its part of the checkpoint
            raise preemption.exit(training_args.output_dir, trainer.is_world_process_zero())
        trainer.save_encoder(final_dir)

    if dev is not None and trainer.is_world_process_zero():
        rows.append({"model": f"{final_dir} (after)", **_dev_row(trainer, dev)})
        table = dev_table(rows)
        print(
            f"\nSTS-B dev ({len(dev)} pairs), Spearman x 100 of cosine similarity:\n"
            + table.to_markdown(floatfmt=".2f")
            + "\n"
        )
        write_text(Path(training_args.output_dir) / DEV_RESULTS_NAME, json.dumps(rows, indent=2) + "\n")
    hub = None
    if hub_target is not None and trainer.is_world_process_zero():
        hub = share_encoder(final_dir, hub_target)  # only the final encoder, with mirror's model card
    return {
        "encoder_dir": str(final_dir),
        "train_loss": result.training_loss,
        "dev": rows,
        "hub": hub,
        "log_history": trainer.state.log_history,
    }


def _dev_row(trainer: MirrorTrainer, dev) -> dict[str, float]:
    encoder = trainer.encoder()
    scores = score_sts(lambda batch: encoder.encode(batch, batch_size=128), dev)
    return {"stsb_dev_spearman": scores["spearman"]}
