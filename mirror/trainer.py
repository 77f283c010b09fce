"""`MirrorTrainer`: the Hugging Face Trainer with an InfoNCE `compute_loss` over the duplicated batch."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from collections import defaultdict
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from .atomic import folder_swap
from .distributed import gather, gather_with_grad
from .encoder import Encoder, forward_pooled
from .errors import ConfigError, TrainingDivergedError
from .gradcache import cached_backward
from .losses import info_nce_loss, pair_statistics
from .st_format import write_encoder_metadata

logger = logging.getLogger(__name__)


def _range(values: torch.Tensor) -> str:
    return f"{values.min().item():.3g}..{values.max().item():.3g}" if values.numel() else "(none)"


class _CollatorEpoch(TrainerCallback):
    """Tell the collator which epoch starts, so span masks change from epoch to epoch (and stay reproducible)."""

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor((state.epoch or 0.0) + 1e-6)


def _with_old_keywords(args, pooling, max_seq_length, run_config):
    """The config the deprecated constructor keywords meant (their old defaults: cls pooling, 512 tokens)."""
    resolved = dataclasses.replace(
        args, pooling=pooling or args.pooling or "cls", max_seq_length=max_seq_length or args.max_seq_length or 512
    )
    resolved.run_config = run_config if run_config is not None else args.run_config
    return resolved


class MirrorTrainer(Trainer):
    """Trainer whose loss is Mirror-BERT's InfoNCE.

    The model is a plain `AutoModel`; each batch is the collator's (2N, L) layout (rows [0, N) strings, rows
    [N, 2N) their masked positives: copies, or partners of pairs; `string_ids` marks identical strings, which are
    not each other's negatives). `compute_loss` encodes all 2N rows in one step (`forward_pooled`: rows sorted by
    length and run in the few chunks that minimise padding + `args.forward_chunk_cost` per chunk; 0 = one padded
    forward; under several processes all make the same number of chunks; with `args.packed_forward`, the default,
    each call's rows end to end without padding where the model allows it, `mirror.packing`), pools, splits the
    embeddings in two halves and applies `info_nce_loss`; with several processes and `args.global_negatives`, the
    embeddings of every rank are gathered (with gradients) so each string is contrasted with the global batch.
    The mean positive / negative cosine, alignment and uniformity are logged beside the loss.

    With `args.mini_batch_size` the step is the cached one (GradCache, `mirror.gradcache`; `training_step` is
    overridden for it, the one override beyond `compute_loss`, `log` and `_save`): the same loss and gradients
    with the activations of only `mini_batch_size` rows alive at a time. It combines with the length chunks (planned
    per mini-batch), global negatives under DDP, gradient accumulation, bf16/fp16 autocast and the fp16 loss scaler
    (each mini-batch goes through `accelerator.backward`); it refuses FSDP, DeepSpeed, DataParallel and LOMO
    optimisers (`_check_cached_step`) and `--ddp_static_graph` (the config). docs/training.md has the list.

    Every setting comes from `args`, a `MirrorConfig` built by `MirrorConfig.for_trainer(encoder, run_config)`:
    `args.pooling`, `args.max_seq_length` (written to the saved metadata) and `args.run_config` (saved as
    `mirror_config.json` next to the weights). The rank and world size are the config's (`args.process_index`,
    `args.world_size`), as everywhere in mirror. Sharing on the Hub is not the trainer's job: the recipe pushes
    the final encoder after training (`mirror.share`).
    """

    def __init__(self, model=None, args=None, *, pooling=None, max_seq_length=None, run_config=None, **kw):
        if pooling is not None or max_seq_length is not None or run_config is not None:
            warnings.warn(
                "MirrorTrainer(pooling=, max_seq_length=, run_config=) is deprecated and goes in the next release: "
                "pass args=MirrorConfig.for_trainer(encoder, run_config)",
                DeprecationWarning,
                stacklevel=2,
            )
            args = _with_old_keywords(args, pooling, max_seq_length, run_config)
        if getattr(args, "pooling", None) is None or getattr(args, "max_seq_length", None) is None:
            raise ConfigError(
                "MirrorTrainer: args.pooling and args.max_seq_length are not resolved; build the trainer's config "
                "with MirrorConfig.for_trainer(encoder, run_config)"
            )
        if args.push_to_hub:  # the stock Trainer would create the repo now and push every checkpoint
            raise ConfigError(
                "MirrorTrainer does not push to the Hub: share the final encoder after training (mirror.share), "
                "and build the trainer's config with MirrorConfig.for_trainer, which turns push_to_hub off"
            )
        super().__init__(model, args, **kw)
        if args.mini_batch_size is not None:
            self._check_cached_step()
        self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean: let the Trainer divide by GA steps
        self._batch_stats: dict[str, list[torch.Tensor]] = defaultdict(list)
        if hasattr(self.data_collator, "epoch"):
            self.add_callback(_CollatorEpoch(self.data_collator))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """InfoNCE of the batch's pooled embeddings. accelerate wraps only `model.forward` in autocast, and
        `forward_pooled` calls the model once per packed call or length chunk: each call, the outermost autocast
        region, would cast every weight to bf16 again (and its gradient back). One region around the whole forward
        caches the casts (autocast caches those of leaf weights that require gradients): once per training step,
        once per mini-batch and pass in the cached step. The loss and the logged statistics stay outside it, in
        fp32."""
        with self.accelerator.autocast():  # one region over the model calls (below): each weight cast once a step
            emb = forward_pooled(model, inputs, self.args.pooling, self.args.forward_chunk_cost, self._agree_chunks(),
                                 self.args.packed_forward)  # (2n, H)
        loss = self._loss_from_embeddings(emb, inputs, record=model.training)
        return (loss, {"embeddings": emb}) if return_outputs else loss

    def _loss_from_embeddings(self, emb: torch.Tensor, inputs: dict, record: bool = True) -> torch.Tensor:
        """InfoNCE of the (2n, H) fp32 embeddings of `inputs` (the collator's layout): the one place the loss is
        computed, for `compute_loss` and the cached step alike. Gathers the other ranks' embeddings (with
        gradients) for global negatives; stops on a non-finite loss; records the batch statistics for `log`."""
        rank, world = self.args.process_index, self.args.world_size
        ids = inputs.get("string_ids")  # (2n,) or None
        emb_a, emb_b = emb.chunk(2)  # (n, H) strings, (n, H) their positives
        if world > 1 and self.args.global_negatives:
            n = emb_a.shape[0]
            gathered = gather_with_grad(emb).view(world, 2, n, -1)  # (world, 2, n, H)
            all_a = gathered[:, 0].reshape(world * n, -1)  # (M, H), M = world * n
            all_b = gathered[:, 1].reshape(world * n, -1)  # (M, H)
            all_ids = None if ids is None else gather(ids).view(world, 2, n).transpose(0, 1).reshape(-1)  # (2M,)
            loss = info_nce_loss(emb_a, emb_b, self.args.temperature, all_a, all_b, rank * n, all_ids)
        else:
            loss = info_nce_loss(emb_a, emb_b, self.args.temperature, string_ids=ids)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(self._divergence_report(loss, inputs, emb))
        if record:
            for key, value in pair_statistics(emb_a.detach(), emb_b.detach(), ids).items():
                self._batch_stats[key].append(value)
        return loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        """The Trainer's step, or with `args.mini_batch_size` the cached one (`mirror.gradcache`): the 2n rows
        encoded in mini-batches without gradients, the exact InfoNCE over all of them and its gradient with
        respect to the embeddings, then each mini-batch re-encoded under its saved random state (same dropout)
        and backpropagated through `accelerator.backward`, under DDP's `no_sync` until the last one. Returns the
        detached loss divided by the gradient accumulation steps, as the Trainer's own step does."""
        if self.args.mini_batch_size is None:
            return super().training_step(model, inputs, num_items_in_batch)
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        scale = 1.0 if self.loss_is_scaled_for_ga else 1.0 / self.current_gradient_accumulation_steps
        agree = self._agree_chunks()

        def encode(rows):
            with self.compute_loss_context_manager(), self.accelerator.autocast():  # as in compute_loss
                return forward_pooled(model, rows, self.args.pooling, self.args.forward_chunk_cost, agree,
                                      self.args.packed_forward)  # (b, H)

        def loss_of(emb):
            with self.compute_loss_context_manager():
                return self._loss_from_embeddings(emb, inputs)

        loss, _ = cached_backward(
            encode,
            loss_of,
            inputs,
            self.args.mini_batch_size,
            backward=lambda surrogate: self.accelerator.backward(surrogate * scale),
            defer_sync=lambda: self.accelerator.no_sync(model),
        )
        return loss * scale

    def _check_cached_step(self) -> None:
        """The set-ups the cached step cannot serve: each would give wrong gradients or none of the savings."""
        why = None
        if self.is_deepspeed_enabled:
            why = "DeepSpeed's backward also steps the optimizer, and the cached step calls backward once per mini-batch"
        elif self.is_fsdp_enabled:
            why = ("FSDP's no_sync keeps full unsharded gradients until the last mini-batch (FSDP2's does not nest "
                   "in gradient accumulation's), and it is untested; use DDP")
        elif self.args.n_gpu > 1:
            why = ("torch.nn.DataParallel (several GPUs in one process) draws dropout on GPUs whose random state the "
                   "step does not save; launch one process per GPU (accelerate launch, DDP)")
        elif str(getattr(self.args.optim, "value", self.args.optim)) in ("lomo", "adalomo"):
            why = f"--optim {getattr(self.args.optim, 'value', self.args.optim)} updates the weights inside backward, once per mini-batch"
        if why:
            raise ConfigError(f"--mini_batch_size does not combine with this run: {why}; drop --mini_batch_size")

    def _agree_chunks(self):
        """DDP/FSDP: the same number of forward calls everywhere (the largest chunk count); None on one process."""
        return self._largest_chunk_count if self.args.world_size > 1 else None

    def _largest_chunk_count(self, count: int) -> int:
        device = self.accelerator.device
        return int(self.accelerator.gather(torch.tensor([count], device=device)).max())

    def _divergence_report(self, loss: torch.Tensor, inputs: dict, emb: torch.Tensor) -> str:
        mask = inputs["attention_mask"]
        norms = emb.detach().float().norm(dim=-1)
        finite = torch.isfinite(emb.detach()).all(dim=-1)
        bad_params = [
            n for n, p in self.accelerator.unwrap_model(self.model).named_parameters() if not torch.isfinite(p).all()
        ]
        return (
            f"the loss became {loss.item()} at step {self.state.global_step + 1} (epoch {self.state.epoch or 0:.2f}); "
            f"batch: {mask.shape[0]} rows x {mask.shape[1]} tokens, {int(mask.sum())} real tokens; embeddings: "
            f"{int((~finite).sum())} of {emb.shape[0]} rows not finite, norms of the finite ones "
            f"{_range(norms[finite])}; parameters not finite: {len(bad_params)}"
            + (f" (first: {bad_params[0]})" if bad_params else "")
            + f"; learning rate {self._get_learning_rate() if self.lr_scheduler is not None else self.args.learning_rate}"
            ". Training stopped before writing an encoder: lower --learning_rate, raise --temperature, or train "
            "in fp32 (drop --fp16/--bf16)"
        )

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._batch_stats and "loss" in logs:
            for key, values in self._batch_stats.items():
                value = torch.stack(values).mean()
                if self.accelerator.num_processes > 1:
                    value = self.accelerator.reduce(value.to(self.args.device), reduction="mean")
                logs[key] = round(float(value), 4)
            self._batch_stats.clear()
        super().log(logs, start_time)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict=state_dict)
        if self.args.should_save:
            output_dir = output_dir if output_dir is not None else self.args.output_dir
            hidden_size = self.accelerator.unwrap_model(self.model).config.hidden_size
            write_encoder_metadata(output_dir, self.args.pooling, hidden_size, self.args.max_seq_length, self.args.run_config)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """The Trainer's resume, with one readable error where the checkpoint's optimizer state was saved for
        another set of trained parameters (a model frozen differently, e.g. `freeze_token_embeddings`): torch
        would fail inside `Optimizer.load_state_dict`."""
        try:
            super()._load_optimizer_and_scheduler(checkpoint)
        except ValueError as err:
            if "parameter group" not in str(err):
                raise
            trained = sum(p.requires_grad for p in self.accelerator.unwrap_model(self.model).parameters())
            raise ConfigError(
                f"resume_from_checkpoint {checkpoint}: its optimizer state was saved for other trained parameters "
                f"than this model's {trained} trainable tensors; resume with the freezing it was trained with "
                "(freeze_token_embeddings), or start over"
            ) from err

    def encoder(self) -> Encoder:
        """The model being trained as an `Encoder` (for evaluation with `mirror.encode`)."""
        model = self.accelerator.unwrap_model(self.model)
        return Encoder(model, self.processing_class, self.args.pooling, self.args.max_seq_length)

    def save_encoder(self, path: str | os.PathLike) -> Path:
        """Save the final encoder atomically: written to `<path>.tmp`, renamed to `path` only once complete.

        The folder holds weights, tokenizer, pooling metadata and the run configuration (no optimizer state, no
        pickled training arguments). An existing `path` is replaced only after the new one is complete.
        """
        path = Path(path)
        with folder_swap(path, build=self.args.should_save) as tmp:
            self.accelerator.wait_for_everyone()
            self.save_model(str(tmp), _internal_call=True)
            if self.args.should_save:
                (tmp / "training_args.bin").unlink(missing_ok=True)
        if self.args.should_save:
            logger.info(f"Saved the encoder to {path}")
        self.accelerator.wait_for_everyone()
        return path
