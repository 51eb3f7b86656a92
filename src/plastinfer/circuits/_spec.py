"""Circuits from plain dicts (TOML configs, JSON headers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._base import AbstractCircuit
from ._feedforward import PlasticLayer

_LAYER_KEYS = {"kind", "n_in", "n_out", "nonlinearity", "eta", "init_std", "w_max"}


def circuit_from_spec(spec: Mapping[str, Any]) -> AbstractCircuit:
    """``{"kind": "plastic_layer", "n_in": 100, "n_out": 1000, "nonlinearity": "sigmoid", "eta": 1.0}``."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"circuit: expected a table, got {type(spec).__name__}")
    kind = spec.get("kind", "plastic_layer")
    if kind == "plastic_layer":
        unknown = set(spec) - _LAYER_KEYS
        if unknown:
            raise ConfigError(f"circuit: unknown key(s) {sorted(unknown)} for kind 'plastic_layer'")
        for required in ("n_in", "n_out"):
            if required not in spec:
                raise ConfigError(f"circuit: missing key {required!r}")
        try:
            init_std = spec.get("init_std")
            return PlasticLayer(
                int(spec["n_in"]),
                int(spec["n_out"]),
                str(spec.get("nonlinearity", "sigmoid")),
                float(spec.get("eta", 1.0)),
                None if init_std is None else float(init_std),
                float(spec.get("w_max", 1e4)),
            )
        except (ValueError, TypeError) as err:
            raise ConfigError(f"circuit: {err}") from None
    raise ConfigError(f"circuit: unknown kind {kind!r}; available: 'plastic_layer'")
