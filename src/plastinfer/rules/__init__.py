"""Plasticity rules: ``Δw = g_θ(x, y, w, r)`` broadcast over a ``(post, pre)`` matrix."""

from ._base import VARIABLES, AbstractRule
from ._library import KNOWN_RULES, anti_hebb, hebb, known_rule, oja
from ._mlp import GlobalMLPRule, MLPRule, SemiGlobalMLPRule
from ._parse import parse_equation
from ._sum import Frozen, RuleSum
from ._spike import SpikeTraceRule, vogels_istdp
from ._taylor import Taylor, term_names

__all__ = [
    "VARIABLES",
    "AbstractRule",
    "Taylor",
    "MLPRule",
    "SemiGlobalMLPRule",
    "GlobalMLPRule",
    "SpikeTraceRule",
    "vogels_istdp",
    "RuleSum",
    "Frozen",
    "term_names",
    "oja",
    "hebb",
    "anti_hebb",
    "known_rule",
    "KNOWN_RULES",
    "parse_equation",
]

from ._spec import rule_from_spec, rule_to_spec  # noqa: E402

from ._vector import rule_from_vector, rule_vector  # noqa: E402

__all__ += ["rule_from_spec", "rule_to_spec", "rule_vector", "rule_from_vector"]
