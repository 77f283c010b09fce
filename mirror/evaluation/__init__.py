"""Evaluation: loaders return plain lists, scorers take an `encode` function and return a flat dict."""

from .sts import load_stsb, score_sts

__all__ = ["load_stsb", "score_sts"]
