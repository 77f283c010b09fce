"""Evaluation: loaders return plain lists, scorers take an `encode` function and return a flat dict.

    from mirror import load_encoder, encode
    from mirror.evaluation import load_stsb, score_sts

    encoder = load_encoder("outputs/sentence_minilm/final")
    score_sts(lambda texts: encode(encoder, texts), load_stsb("data/stsb/sts-dev.csv"))  # {'spearman': ..., 'pairs': 1500}

Modules: `sts` (STS12-16, STS-B, SICK-R), `lexical` (SimLex-999, Multi-SimLex, WordSim-353, MEN), `crosslingual`
(BLI, Tatoeba), `discovery` (benchmarks found by file name), `report` (tables, CSV/JSON/PNG), `suite`
(`evaluate_suite`: a suite's benchmarks, every model, one table), `cli` (the eval/ scripts' common flags, printing
and writing), `datadir` (the default benchmark folder), and the downloader: `sources` (benchmark_sources.json),
`fetch` (HTTP with resume, checksums, archives, Hub splits), `download` (verify, install, the manifest). What each
may import: the module map in `mirror/__init__.py`.
"""

from .common import CachedEncoder
from .crosslingual import load_bli_dictionary, load_parallel, score_bli, score_tatoeba
from .lexical import load_multisimlex, load_word_pairs, score_word_similarity
from .suite import evaluate_suite
from .sts import load_sick, load_stsb, load_sts_subset, load_sts_year, score_sts, score_sts_year

__all__ = [
    "CachedEncoder",
    "evaluate_suite",
    "load_bli_dictionary",
    "load_multisimlex",
    "load_parallel",
    "load_sick",
    "load_sts_subset",
    "load_sts_year",
    "load_stsb",
    "load_word_pairs",
    "score_bli",
    "score_sts",
    "score_sts_year",
    "score_tatoeba",
    "score_word_similarity",
]
