"""Rules to and from plain dicts (TOML configs, JSON headers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from .._checks import as_float, as_int, as_str
from ..errors import ConfigError
from ._base import AbstractRule
from ._library import KNOWN_RULES
from ._mlp import GlobalMLPRule, MLPRule, SemiGlobalMLPRule
from ._sum import Frozen, RuleSum
from ._spike import SpikeTraceRule
from ._taylor import Taylor

_TAYLOR_KEYS = {"family", "variables", "order", "terms", "active", "init_scale", "name"}
_SPIKE_KEYS = {"family", "alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post", "unit"}
_MLP_KEYS = {"family", "variables", "width", "depth", "activation", "out_scale"}
_SEMI_KEYS = {"family", "width", "depth", "activation", "out_scale"}
_GLOBAL_KEYS = {"family", "n_in", "n_out", "width", "depth", "activation", "out_scale"}
FAMILIES = ("taylor", "mlp", "semi_global_mlp", "global_mlp", "spike_trace", "sum", "frozen", "tuple")


MAX_MLP_WIDTH = 100_000


def _variables(spec: Mapping[str, Any]) -> tuple:
    """The spec's ``variables`` (default ``x, y, w``): a list of names, not a string."""
    variables = spec.get("variables", ("x", "y", "w"))
    if isinstance(variables, str) or not isinstance(variables, (list, tuple)):
        raise ConfigError(f"rule: variables must be a list of names, got {variables!r}")
    return tuple(variables)


def _mlp_shape(spec: Mapping[str, Any], depth: int) -> tuple[int, int, str, float]:
    """``(width, depth, activation, out_scale)`` of an MLP rule's spec, checked."""
    width = as_int(spec.get("width", 10), "width", "rule", minimum=1)
    if width > MAX_MLP_WIDTH:
        raise ConfigError(f"rule: width {width} is above {MAX_MLP_WIDTH:,}")
    return (width, as_int(spec.get("depth", depth), "depth", "rule", minimum=0),
            as_str(spec.get("activation", "tanh"), "activation", "rule"),
            as_float(spec.get("out_scale", 1e-2), "out_scale", "rule", minimum=0.0))


def rule_from_spec(spec: Mapping[str, Any], key: jax.Array | None = None) -> AbstractRule:
    """Build a rule from a dict.

    - ``{"name": "oja"}`` — a known rule; ``{"equation": "x*r - 0.05*w"}`` — a parsed one;
    - ``{"family": "taylor", "variables": ["x","y","w"], "order": 2, "terms": {"x1y1w0": 1.0}}``
      — named coefficients (others zero), or, with ``key`` and no ``terms``, coefficients
      drawn ``N(0, init_scale²)`` (default ``init_scale = 1e-2``); ``active`` limits the terms;
    - ``{"family": "mlp", "variables": [...], "width": 10, "depth": 1, "activation": "tanh"}``
      (needs ``key``);
    - ``{"family": "semi_global_mlp", "width": …, "depth": …}``, ``{"family": "global_mlp",
      "n_in": …, "n_out": …, "width": …, "depth": …}`` (need ``key``);
    - ``{"family": "sum", "rules": [spec, spec, ...]}``; ``{"family": "frozen", "rule": spec}``
      (a rule held fixed inside a sum);
    - ``{"family": "tuple", "rules": [spec, spec]}`` — a *tuple* of rules, e.g. the
      feed-forward and lateral rules ``(A, B)`` of a lateral network;
    - ``{"family": "spike_trace", "alpha": …, "beta": …, "gamma": …, "kappa": …,
      "tau_pre": s, "tau_post": s}`` — a :class:`SpikeTraceRule` (weight units per spike,
      seconds; missing parameters 0 and 20 ms).
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"rule: expected a table, got {type(spec).__name__}")
    if "equation" in spec and "family" not in spec:
        from ._parse import parse_equation

        order = spec.get("order")
        try:
            return parse_equation(as_str(spec["equation"], "equation", "rule"), spec.get("variables"),
                                  None if order is None else as_int(order, "order", "rule", minimum=0))
        except ValueError as err:  # ConfigError included: name the section once
            text = str(err)
            raise ConfigError(text if text.startswith("rule:") else f"rule: {text}") from None
    if "name" in spec and "family" not in spec:
        name = spec["name"]
        if not isinstance(name, str) or name not in KNOWN_RULES:
            raise ConfigError(f"rule: unknown name {name!r}; known rules: {sorted(KNOWN_RULES)}")
        return KNOWN_RULES[name]()
    family = spec.get("family")
    try:
        if family == "taylor":
            unknown = set(spec) - _TAYLOR_KEYS
            if unknown:
                raise ConfigError(f"rule: unknown key(s) {sorted(unknown)} for family 'taylor'")
            variables = _variables(spec)
            order = as_int(spec.get("order", 2), "order", "rule", minimum=0)
            active = spec.get("active")
            if active is not None and (isinstance(active, str) or not isinstance(active, (list, tuple))):
                raise ConfigError(f"rule: active must be a list of term names, got {active!r}")
            if "terms" in spec or key is None:
                return Taylor.from_terms(spec.get("terms", {}), variables, order, active)
            return Taylor.init(key, variables, order, as_float(spec.get("init_scale", 1e-2), "init_scale", "rule",
                                                               minimum=0.0), active)
        if family == "mlp":
            unknown = set(spec) - _MLP_KEYS
            if unknown:
                raise ConfigError(f"rule: unknown key(s) {sorted(unknown)} for family 'mlp'")
            if key is None:
                raise ConfigError("rule: an MLP rule needs a random key to initialise")
            return MLPRule(key, _variables(spec), *_mlp_shape(spec, 1))
        if family == "spike_trace":
            unknown = set(spec) - _SPIKE_KEYS
            if unknown:
                raise ConfigError(f"rule: unknown key(s) {sorted(unknown)} for family 'spike_trace'")
            values = {k: as_float(v, k, "rule")
                      for k, v in spec.items() if k != "family"}
            return SpikeTraceRule.create(**values)
        if family in ("semi_global_mlp", "global_mlp"):
            allowed = _SEMI_KEYS if family == "semi_global_mlp" else _GLOBAL_KEYS
            unknown = set(spec) - allowed
            if unknown:
                raise ConfigError(f"rule: unknown key(s) {sorted(unknown)} for family {family!r}")
            if key is None:
                raise ConfigError(f"rule: a {family} rule needs a random key to initialise")
            width, depth, activation, out_scale = _mlp_shape(spec, 2)
            kw = dict(width=width, depth=depth, activation=activation, out_scale=out_scale)
            if family == "semi_global_mlp":
                return SemiGlobalMLPRule(key, **kw)
            for required in ("n_in", "n_out"):
                if required not in spec:
                    raise ConfigError(f"rule: family 'global_mlp' needs {required!r} (the layer's size)")
            return GlobalMLPRule(key, as_int(spec["n_in"], "n_in", "rule", minimum=1),
                                 as_int(spec["n_out"], "n_out", "rule", minimum=1), **kw)
        if family == "frozen":
            if not isinstance(spec.get("rule"), Mapping) or set(spec) - {"family", "rule"}:
                raise ConfigError("rule: family 'frozen' needs exactly one table 'rule'")
            return Frozen(rule_from_spec(spec["rule"], key))
        if family == "tuple":
            parts = spec.get("rules")
            if not isinstance(parts, list) or not parts:
                raise ConfigError("rule: family 'tuple' needs a non-empty list 'rules'")
            keys = jax.random.split(key, len(parts)) if key is not None else [None] * len(parts)
            return tuple(rule_from_spec(p, k) for p, k in zip(parts, keys))
        if family == "sum":
            parts = spec.get("rules")
            if not isinstance(parts, list) or not parts:
                raise ConfigError("rule: family 'sum' needs a non-empty list 'rules'")
            keys = jax.random.split(key, len(parts)) if key is not None else [None] * len(parts)
            return RuleSum(tuple(rule_from_spec(p, k) for p, k in zip(parts, keys)))
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"rule: {err}") from None
    raise ConfigError(f"rule: unknown family {family!r}; choose one of {list(FAMILIES)} (or give a 'name' or an "
                      "'equation')")


def rule_to_spec(rule: AbstractRule | tuple[AbstractRule, ...]) -> dict[str, Any]:
    """A JSON/TOML-able description of any family (or tuple of rules). Taylor and spike-trace
    rules round-trip exactly; MLP specs hold the architecture only (their weights live in
    the run's arrays: :func:`plastinfer.save_rule` keeps both)."""
    if isinstance(rule, (tuple, list)):
        return {"family": "tuple", "rules": [rule_to_spec(r) for r in rule]}
    if isinstance(rule, Frozen):
        return {"family": "frozen", "rule": rule_to_spec(rule.rule)}
    if isinstance(rule, SemiGlobalMLPRule):
        return {"family": "semi_global_mlp", "width": rule.mlp.width_size, "depth": rule.mlp.depth,
                "activation": rule.activation}
    if isinstance(rule, GlobalMLPRule):
        return {"family": "global_mlp", "n_in": rule.n_in, "n_out": rule.n_out, "width": rule.mlp.width_size,
                "depth": rule.mlp.depth, "activation": rule.activation}
    if isinstance(rule, Taylor):
        spec: dict[str, Any] = {
            "family": "taylor",
            "variables": list(rule.variables),
            "order": rule.order,
            "terms": {k: v for k, v in rule.coefficients().items() if v != 0.0},
        }
        if rule.active is not None:
            spec["active"] = list(rule.active)
        return spec
    if isinstance(rule, MLPRule):
        return {
            "family": "mlp",
            "variables": list(rule.variables),
            "width": rule.mlp.width_size,
            "depth": rule.mlp.depth,
            "activation": rule.activation,
        }
    if isinstance(rule, SpikeTraceRule):
        c = rule.coefficients()
        return {"family": "spike_trace", "alpha": c["alpha"], "beta": c["beta"], "gamma": c["gamma"],
                "kappa": c["kappa"], "tau_pre": float(rule.tau_pre), "tau_post": float(rule.tau_post),
                "unit": rule.unit}
    if isinstance(rule, RuleSum):
        return {"family": "sum", "rules": [rule_to_spec(r) for r in rule.rules]}
    raise TypeError(f"no spec for rule type {type(rule).__name__}")
