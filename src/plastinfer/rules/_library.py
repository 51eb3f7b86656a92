"""Named known rules, built from the same families as the candidates."""

from __future__ import annotations

from collections.abc import Callable

from ._base import AbstractRule
from ._spike import vogels_istdp
from ._taylor import Taylor
from ..errors import ConfigError


def oja(rate: float = 1.0) -> Taylor:
    """Oja (1982): ``Δw_ij = x_j y_i − y_i² w_ij`` (``θ_110 = 1, θ_021 = −1``)."""
    return Taylor.from_terms({"x1y1w0": rate, "x0y2w1": -rate})


def hebb(rate: float = 1.0) -> Taylor:
    """Plain Hebbian rule ``Δw_ij = x_j y_i``."""
    return Taylor.from_terms({"x1y1w0": rate})


def anti_hebb(rate: float = 1.0) -> Taylor:
    """Anti-Hebbian rule ``Δw_ij = −x_j y_i``."""
    return Taylor.from_terms({"x1y1w0": -rate})


KNOWN_RULES: dict[str, Callable[[], AbstractRule]] = {"oja": oja, "hebb": hebb, "anti-hebb": anti_hebb,
                                                      "vogels-istdp": vogels_istdp}


def known_rule(name: str) -> AbstractRule:
    """Look a named rule up in :data:`KNOWN_RULES`."""
    try:
        return KNOWN_RULES[name]()
    except KeyError:
        raise ConfigError(f"unknown rule {name!r}; known rules: {sorted(KNOWN_RULES)}") from None
