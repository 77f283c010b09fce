"""mirror: Mirror-BERT (Liu et al., EMNLP 2021) as a Hugging Face Trainer recipe.

    import mirror
    encoder = mirror.load_encoder("outputs/sentence_minilm/final")  # pooling read from the saved metadata
    embeddings = mirror.encode(encoder, ["A man is playing a guitar.", "Someone plays music."])

Module map: what each module is for, and after `<` the mirror modules it may import. Imports only go down: a
module may import only modules listed above it (tests/test_package.py reads every import, inside functions too).

    errors                  user errors and the one-line CLI message                             < -
    atomic                  write a file or swap a folder atomically                             < -
    masking                 span_mask: the input augmentation, a pure string function            < -
    losses                  info_nce_loss and pair_statistics over two embedding tensors         < -
    distributed             gather_with_grad for global-batch negatives                          < -
    chunking                the length-chunk planner of the forward pass                         < -
    checkpoints             which checkpoint-N folders are complete; the newest complete one     < -
    preemption              SIGTERM/SIGINT: checkpoint at the next step on every rank, exit, resume command  < checkpoints
    drophead                DropHead: whole attention heads dropped in training (forward pre-hooks)  < errors
    packing                 the packed forward: a call's rows end to end, attention gathered per length chunk  < drophead, errors
    fast_dropout            CPU dropout masks 4 per 64-bit random word; the attention function that uses them (packed too)  < packing
    gradcache               the cached step (GradCache): mini-batches, RNG replay, cached gradients  < -
    summary                 seed_summary: mean and sample std over seeds                         < errors
    st_format               sentence-transformers metadata and mirror_config.json, read/written  < atomic, errors
    hub                     name resolution, Hub reachability, hub flags, the upload folder      < atomic, errors, st_format
    data                    load_corpus (txt/csv/tsv/jsonl/parquet, compressed or not; folders and Hub) and TextDataset (about 370 lines: a strict reader per format, so errors name file and line)  < errors, hub
    pairs                   load_pairs: positive pairs from two columns or a||b lines            < data, errors
    collator                MirrorCollator: duplicate or pair, mask, tokenize once -> (2N, L) + string ids  < masking
    encoder                 Encoder, load_encoder, pool, forward_pooled, encode (and its precision), save_encoder (about 370 lines: encode's bf16 choice sits beside the forward it wraps)  < chunking, drophead, errors, fast_dropout, hub, packing, st_format
    modeling                deprecated alias of encoder and its neighbours, for one release      < chunking, encoder, hub, st_format
    config                  the run's dataclasses and the YAML + CLI parser (about 480 lines: the fields' help texts and the changed defaults)  < encoder, errors, hub, st_format
    card                    the model card from its template and facts (a little over 300 lines: one helper per card section)  < errors, hub, st_format
    share                   push the final encoder with its card: the recipe's step after training  < card, errors, hub
    curves                  TrainingCurves: training_log.csv and training_curves.png             < atomic
    trainer                 MirrorTrainer(Trainer): InfoNCE compute_loss, the cached training_step, log, _save  < atomic, distributed, encoder, errors, gradcache, losses, st_format
    evaluation.datadir      the default benchmark folder                                         < errors
    evaluation.discovery    what a task is; files walked, named and selected                     < errors
    evaluation.common       line readers, number parsing, cosine, Spearman, the embedding cache  < data, errors
    evaluation.sts          STS12-16, STS-B, SICK-R loaders, scorers, discovery (about 360 lines: three release layouts)  < errors, evaluation.common, evaluation.discovery
    evaluation.lexical      word-similarity loaders, scorer, discovery (about 450 lines: six release layouts and their shipped files)  < errors, evaluation.common, evaluation.discovery
    evaluation.mapping      mapped BLI's maths: unit-centre-unit normalisation, orthogonal Procrustes  < -
    evaluation.crosslingual  BLI and Tatoeba loaders, scorers, discovery (about 370 lines: two tasks, and BLI's train dictionary found beside its test dictionary)  < errors, evaluation.common, evaluation.discovery, evaluation.mapping
    evaluation.report       tables, CSV/JSON/PNG results                                         < atomic
    evaluation.suite        evaluate_suite: find, load once, score every model                   < encoder, errors, evaluation.common, evaluation.crosslingual, evaluation.discovery, evaluation.lexical, evaluation.report, evaluation.sts
    evaluation.runner       deprecated alias of evaluation.suite, for one release                < evaluation.suite
    evaluation.cli          the flags every eval script shares; print and write a table          < errors, evaluation.datadir, evaluation.discovery, evaluation.report, evaluation.suite, st_format
    evaluation.sources      the benchmark sources file (benchmark_sources.json)                  < errors
    evaluation.fetch        HTTP download with resume, checksums, archive members, Hub splits    < -
    evaluation.download     verify and install downloaded benchmarks, the manifest               < atomic, errors, evaluation.datadir, evaluation.fetch, evaluation.sources
    evaluation              the evaluation package's public names                                < evaluation.common, evaluation.crosslingual, evaluation.lexical, evaluation.sts, evaluation.suite
    recipe                  the training recipe the entry scripts run, top to bottom (a little over 300 lines: every input check before training, then the steps in order)  < atomic, card, checkpoints, collator, config, curves, data, encoder, errors, evaluation.datadir, evaluation.sources, evaluation.sts, pairs, preemption, share, st_format, trainer
    seeds                   one recipe trained with several seeds                                < atomic, card, checkpoints, errors, recipe, summary
"""

from .collator import MirrorCollator
from .config import DataArguments, MirrorArgumentParser, MirrorConfig, ModelArguments
from .data import TextDataset, load_corpus
from .errors import ConfigError, DataError, ModelLoadError, UserError
from .losses import info_nce_loss, pair_statistics
from .masking import span_mask
from .pairs import load_pairs
from .encoder import Encoder, encode, load_encoder, pool, save_encoder
from .trainer import MirrorTrainer

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataArguments",
    "DataError",
    "Encoder",
    "MirrorArgumentParser",
    "MirrorCollator",
    "MirrorConfig",
    "MirrorTrainer",
    "ModelArguments",
    "ModelLoadError",
    "TextDataset",
    "UserError",
    "encode",
    "info_nce_loss",
    "load_corpus",
    "load_encoder",
    "load_pairs",
    "pair_statistics",
    "pool",
    "save_encoder",
    "span_mask",
]
