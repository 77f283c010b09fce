"""Deprecated alias, kept for one release: `mirror.modeling` was split into `mirror.encoder` (Encoder,
load_encoder, pool, forward_pooled, encode, save_encoder), `mirror.chunking` (the length-chunk planner),
`mirror.st_format` (sentence-transformers metadata) and `mirror.hub` (name resolution, reachability).

Import from those modules, or the public names from `mirror` itself. Nothing else lives here.
"""

from .chunking import chunked_tokens, length_chunks, plan_chunks, split_chunks
from .encoder import Encoder, encode, forward_pooled, load_encoder, pool, save_encoder, set_dropout
from .hub import metadata_dir, resolve_model_path
from .st_format import MIRROR_CONFIG_NAME, POOLING_DIR, read_max_seq_length, read_pooling, write_pooling_metadata

__all__ = [
    "MIRROR_CONFIG_NAME",
    "POOLING_DIR",
    "Encoder",
    "chunked_tokens",
    "encode",
    "forward_pooled",
    "length_chunks",
    "load_encoder",
    "metadata_dir",
    "plan_chunks",
    "pool",
    "read_max_seq_length",
    "read_pooling",
    "resolve_model_path",
    "save_encoder",
    "set_dropout",
    "split_chunks",
    "write_pooling_metadata",
]
