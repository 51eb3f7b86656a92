"""Circuits to and from plain dicts (TOML configs, JSON headers): every circuit round-trips."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._checks import as_float, as_int, as_str
from ..errors import ConfigError
from ._bandit import BanditCircuit
from ._base import AbstractCircuit
from ._choice import ChoiceCircuit
from ._feedforward import PlasticLayer
from ._lateral import LateralNetwork
from ._lif import LIFNeuron

#: ``kind`` names of the circuits a config can describe.
CIRCUIT_KINDS: dict[str, type[AbstractCircuit]] = {
    "plastic_layer": PlasticLayer, "choice": ChoiceCircuit, "lateral_network": LateralNetwork, "lif_neuron": LIFNeuron,
    "bandit": BanditCircuit}


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def circuit_to_spec(circuit: AbstractCircuit) -> dict[str, Any]:
    """Every static setting of ``circuit`` with its ``kind``: ``circuit_from_spec`` of it builds an
    identical circuit."""
    kind = next((k for k, cls in CIRCUIT_KINDS.items() if type(circuit) is cls), None)
    if kind is None:
        raise ConfigError(f"circuit: no spec for {type(circuit).__name__}")
    return {"kind": kind, **{f.name: _plain(getattr(circuit, f.name)) for f in dataclasses.fields(circuit)}}


def _convert(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the field's annotated type (``int``, ``float``, ``bool``, ``str``, tuples)."""
    kind = str(annotation).replace("typing.", "")
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"circuit: {name} must be true or false, got {value!r}")
        return value
    if kind.startswith("int"):
        return as_int(value, name, "circuit")
    if kind.startswith("float"):
        return as_float(value, name, "circuit")
    if kind.startswith("str"):
        return as_str(value, name, "circuit")
    if kind.startswith("tuple"):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"circuit: {name} must be a list, got {value!r}")
        return tuple(tuple(as_float(x, name, "circuit") for x in v) if isinstance(v, (list, tuple))
                     else as_float(v, name, "circuit") for v in value)
    return value


def circuit_from_spec(spec: Mapping[str, Any]) -> AbstractCircuit:
    """Build a circuit from ``{"kind": …, field: value, …}``: ``kind`` one of
    :data:`CIRCUIT_KINDS` (default ``"plastic_layer"``), the other keys the circuit's fields
    (e.g. ``{"kind": "plastic_layer", "n_in": 100, "n_out": 1000, "nonlinearity": "sigmoid",
    "eta": 1.0}``); missing fields take their defaults, unknown ones are an error."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"circuit: expected a table, got {type(spec).__name__}")
    kind = spec.get("kind", "plastic_layer")
    if kind not in CIRCUIT_KINDS:
        raise ConfigError(f"circuit: unknown kind {kind!r}; available: {sorted(CIRCUIT_KINDS)}")
    cls = CIRCUIT_KINDS[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(spec) - set(fields) - {"kind"}
    if unknown:
        raise ConfigError(f"circuit: unknown key(s) {sorted(unknown)} for kind {kind!r}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in spec and spec[name] is not None:
            try:
                kwargs[name] = _convert(spec[name], f.type, name)
            except ConfigError:
                raise
            except (TypeError, ValueError) as err:
                raise ConfigError(f"circuit: {name}: {err}") from None
        elif f.default is dataclasses.MISSING:
            raise ConfigError(f"circuit: missing key {name!r} for kind {kind!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"circuit: {err}") from None
