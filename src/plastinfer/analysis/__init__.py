"""Metrics and figures usable on any fitted rule."""

from ._metrics import r2_score

__all__ = ["r2_score"]
