"""mirror: Mirror-BERT (Liu et al., EMNLP 2021) as a Hugging Face Trainer recipe.

    import mirror
    encoder = mirror.load_encoder("outputs/sentence_minilm/final")  # pooling read from the saved metadata
    embeddings = mirror.encode(encoder, ["A man is playing a guitar.", "Someone plays music."])
"""

from .collator import MirrorCollator
from .config import DataArguments, MirrorArgumentParser, MirrorConfig, ModelArguments
from .data import TextDataset, load_corpus
from .errors import ConfigError, DataError, ModelLoadError, UserError
from .losses import info_nce_loss, pair_statistics
from .masking import span_mask
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
    "pair_statistics",
    "pool",
    "save_encoder",
    "span_mask",
]
