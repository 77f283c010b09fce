"""One epoch of MirrorTrainer on 64 strings, run by tests/test_distributed.py in 1 or 2 processes (accelerate launch, gloo on CPU).

Writes, per rank, the corpus indices of every batch, every step's local loss and every parameter's gradient after
the first backward pass (DDP has averaged it over ranks), so the test can compare a 2-process run to a 1-process run.
MODE `strings` (default) trains on 64 sentences; `pairs` on 64 pairs of 12 words, so every string is on several rows
and, in a batch split over ranks, on both ranks (identical strings masked out of the negatives); `pairs_nomask` on
the same pairs with the collator's string ids dropped (the loss without that masking). With SAVE_WEIGHTS 1 (default
0) each rank also writes the encoder's weights after the epoch (tests/test_multinode.py).
Usage: python tests/dist_step.py MODEL_DIR OUT_DIR PER_DEVICE_BATCH GLOBAL_NEGATIVES(0/1) CHUNK [MODE [SAVE_WEIGHTS(0/1) [MINI_BATCH [DROPOUT [REPLAY]]]]]

Opt-in, for the cached step (defaults: off, dropout 0): MINI_BATCH > 0 trains with --mini_batch_size MINI_BATCH;
with REPLAY 1 instead, the uncached reference of the cached step: each step encodes the same mini-batches in the
same order with gradients (so the same dropout masks) and applies the plain loss to their concatenation.
"""

import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from mirror import MirrorCollator, MirrorConfig, MirrorTrainer, TextDataset, load_encoder
from mirror.encoder import forward_pooled
from mirror.gradcache import mini_batches, take_rows

model_dir, out_dir, batch, global_neg, chunk = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
texts = [line.strip() for line in Path(__file__).resolve().parents[1].joinpath("data/sentences/en_stsb_train_10k.txt").read_text().splitlines()[:64]]
texts = list(dict.fromkeys(texts))
mode = sys.argv[6] if len(sys.argv) > 6 else "strings"
save_weights = len(sys.argv) > 7 and sys.argv[7] == "1"
mini_batch, dropout, replay = (int(sys.argv[8]) if len(sys.argv) > 8 else 0), (float(sys.argv[9]) if len(sys.argv) > 9 else 0.0), (len(sys.argv) > 10 and sys.argv[10] == "1")
words = "cat dog house tree river stone bread music night water green small".split()
pairs = [(a, b) for a in words for b in words if a != b][::2][:64]  # 64 distinct pairs, each word on ~10 of them


class RecordingCollator(MirrorCollator):
    seen: list

    def __call__(self, features):
        self.seen.append([f["idx"] for f in features])
        batch = super().__call__(features)
        if mode == "pairs_nomask":
            del batch["string_ids"]
        return batch


class RecordingTrainer(MirrorTrainer):
    losses: list

    def _loss_from_embeddings(self, emb, inputs, record=True):  # the loss of the uncached and the cached step
        loss = super()._loss_from_embeddings(emb, inputs, record)
        self.losses.append(float(loss))
        return loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not replay:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        groups = mini_batches(inputs["attention_mask"], mini_batch)
        parts = [forward_pooled(model, take_rows(inputs, g), "mean", chunk, self._agree_chunks(), self.args.packed_forward)
                 for g in groups]  # fmt: skip  (packed where the trainer packs, so dropout draws the same masks)
        return self._loss_from_embeddings(torch.cat(parts)[torch.argsort(torch.cat(groups))], inputs)


class GradGrab(TrainerCallback):
    def __init__(self):
        self.grads = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.grads is None:  # the first step's gradients
            self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


enc = load_encoder(model_dir, pooling="mean", dropout=dropout)  # default no dropout: both runs must be deterministic
args = MirrorConfig(
    output_dir=str(out_dir / "run"), per_device_train_batch_size=batch, num_train_epochs=1, logging_steps=1,
    save_strategy="no", report_to=[], seed=0, global_negatives=global_neg, forward_chunk_cost=chunk,
    disable_tqdm=True, temperature=0.05, mini_batch_size=mini_batch if mini_batch and not replay else None,
).for_trainer(enc)
collator = RecordingCollator(enc.tokenizer, max_length=32, span_mask_len=5, seed=0)
collator.seen = []
grab = GradGrab()
trainer = RecordingTrainer(
    model=enc.model, args=args, data_collator=collator,
    train_dataset=TextDataset(texts) if mode == "strings" else TextDataset(pairs=pairs),
    processing_class=enc.tokenizer, callbacks=[grab],
)
trainer.losses = []
trainer.train()
rank, world = trainer.args.process_index, trainer.args.world_size
grads = {n.removeprefix("module."): g for n, g in grab.grads.items()}
record = {"rank": rank, "world": world, "idx": collator.seen, "loss": trainer.losses, "grads": grads, "pairs": pairs}
if save_weights:  # the encoder after the epoch (trainer.model is the unwrapped module on every rank)
    record["weights"] = {n: t.detach().clone() for n, t in trainer.model.state_dict().items()}
torch.save(record, out_dir / f"rank{rank}.pt")
