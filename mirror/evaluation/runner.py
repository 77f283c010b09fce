"""Deprecated: the old name of `mirror.evaluation.suite` (kept for one release). Import from `mirror.evaluation`
(`evaluate_suite`) or `mirror.evaluation.suite` (`discover`, `load_tasks`, `SUITES`) instead; the scripts' command
line is in eval/ and `mirror.evaluation.cli`."""

import warnings

from .suite import SUITES, ModelSpec, Suite, describe, discover, evaluate_suite, load_tasks, model_specs

warnings.warn(
    "mirror.evaluation.runner is deprecated: use mirror.evaluation.suite (or `from mirror.evaluation import "
    "evaluate_suite`)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["SUITES", "ModelSpec", "Suite", "describe", "discover", "evaluate_suite", "load_tasks", "model_specs"]
