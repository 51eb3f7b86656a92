"""Rules written as equations: ``"x*r - 0.05*w"`` → a Taylor rule with those coefficients."""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

from ._base import VARIABLES
from ._taylor import MAX_ORDER, Taylor
from ..errors import ConfigError

MAX_EQUATION_CHARS = 10_000

Poly = dict[tuple[int, int, int, int], float]  # powers of (x, y, w, r) → coefficient


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for pa, ca in a.items():
        for pb, cb in b.items():
            p = tuple(i + j for i, j in zip(pa, pb))
            if max(p) > MAX_ORDER:
                raise ConfigError(f"a power above the highest supported order {MAX_ORDER}")
            out[p] = out.get(p, 0.0) + ca * cb
    return out


def _add(a: Poly, b: Poly, sign: float = 1.0) -> Poly:
    out = dict(a)
    for p, c in b.items():
        out[p] = out.get(p, 0.0) + sign * c
    return out


def _poly(node: ast.AST, text: str) -> Poly:
    if isinstance(node, ast.Expression):
        return _poly(node.body, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return {(0, 0, 0, 0): float(node.value)}
    if isinstance(node, ast.Name):
        if node.id not in VARIABLES:
            raise ConfigError(f"equation {text!r}: unknown variable {node.id!r} (use x, y, w, r)")
        p = [0, 0, 0, 0]
        p[VARIABLES.index(node.id)] = 1
        return {tuple(p): 1.0}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _poly(node.operand, text)
        return {p: (-c if isinstance(node.op, ast.USub) else c) for p, c in inner.items()}
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return _add(_poly(node.left, text), _poly(node.right, text), -1.0 if isinstance(node.op, ast.Sub) else 1.0)
        if isinstance(node.op, ast.Mult):
            return _mul(_poly(node.left, text), _poly(node.right, text))
        if isinstance(node.op, (ast.Pow, ast.BitXor)):
            exp = node.right
            if not (isinstance(exp, ast.Constant) and isinstance(exp.value, int) and exp.value >= 0):
                raise ConfigError(f"equation {text!r}: powers must be non-negative integers")
            if exp.value > MAX_ORDER:
                raise ConfigError(f"equation {text!r}: power {exp.value} is above the highest supported order {MAX_ORDER}")
            out: Poly = {(0, 0, 0, 0): 1.0}
            base = _poly(node.left, text)
            for _ in range(exp.value):
                out = _mul(out, base)
            return out
    raise ConfigError(f"equation {text!r}: unsupported expression {ast.unparse(node)!r}")


def parse_equation(text: str, variables: Sequence[str] | None = None, order: int | None = None) -> Taylor:
    """Parse a polynomial rule such as ``"x*r - 0.05*w"`` or ``"x*y - y^2*w"``.

    Accepts ``+ - *``, powers ``^`` or ``**`` with integer exponents, parentheses, and an
    optional ``Δw =`` / ``dw =`` prefix. ``variables`` defaults to ``x, y, w`` (plus ``r``
    when the equation uses it); ``order`` to ``max(2, highest power)``. Parsed with
    :mod:`ast` — nothing is evaluated.
    """
    if not isinstance(text, str):
        raise ConfigError(f"equation must be a string, got {text!r}")
    if len(text) > MAX_EQUATION_CHARS:
        raise ConfigError(f"equation of {len(text):,} characters is longer than {MAX_EQUATION_CHARS:,}")
    body = text.strip()
    for prefix in ("Δw", "dw", "delta_w"):
        if body.startswith(prefix) and "=" in body:
            body = body.split("=", 1)[1]
    body = body.replace("·", "*").replace("−", "-").replace("²", "**2").replace("³", "**3").replace("^", "**")
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"equation {text!r}: not a polynomial ({err.msg})") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"equation {text[:40]!r}…: nested too deeply") from None
    try:
        poly = {p: c for p, c in _poly(tree, text).items() if c != 0.0}
    except RecursionError:
        raise ConfigError(f"equation {text[:40]!r}…: nested too deeply") from None
    bad = [c for c in poly.values() if not math.isfinite(c)]
    if bad:
        raise ConfigError(f"equation {text!r}: a coefficient is not finite ({bad[0]})")
    used = {VARIABLES[i] for p in poly for i, e in enumerate(p) if e}
    if variables is None:
        variables = ("x", "y", "w", "r") if "r" in used else ("x", "y", "w")
    missing = used - set(variables)
    if missing:
        raise ConfigError(f"equation {text!r} uses {sorted(missing)}, not among the rule's variables {list(variables)}")
    top = max((max(p) for p in poly), default=0)
    order = max(2, top) if order is None else order
    if top > order:
        raise ConfigError(f"equation {text!r} has power {top}, above the rule's order {order}")
    terms = {"".join(f"{v}{p[VARIABLES.index(v)]}" for v in VARIABLES if v in variables): c for p, c in poly.items()}
    return Taylor.from_terms(terms, variables, order)
