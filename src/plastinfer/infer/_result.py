"""The result type shared by every fitter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..rules import AbstractRule
from ._problem import coefficient_names, rule_equation


@dataclasses.dataclass
class FitResult:
    """What a fit returns.

    - ``rule``: the fitted rule (same family as the initial one);
    - ``history``: arrays over training, e.g. ``loss`` ``(epochs,)``, ``theta``
      ``(epochs + 1, n_terms)`` for Taylor rules (row 0 is the initial rule), ``params``
      (all rule parameters flattened), ``diverged`` (skipped non-finite updates per epoch);
    - ``metrics``: scalars and small lists (held-out R², final loss, timings);
    - ``names``: coefficient names for the columns of ``history["theta"]``;
    - ``run_dir``: where the run was written, if anywhere.
    """

    rule: AbstractRule
    history: dict[str, np.ndarray]
    metrics: dict[str, Any]
    names: list[str] | None = None
    run_dir: Path | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


def result_from_engine(res, rule, *, per_step: str = "epoch", aliases: dict[str, str] | None = None,
                       names: list[str] | None = None) -> FitResult:
    """A :class:`FitResult` from an :class:`~plastinfer.infer.EngineResult`: the engine's
    history (one format for every method) plus the long-standing aliases ``theta`` (the
    coefficient trace of Taylor rules), ``params`` (all coefficients) and ``diverged``
    (rejected steps), and the common metrics."""
    hist = {k: np.asarray(v) for k, v in res.history.items()}
    names = names if names is not None else coefficient_names(rule)
    hist["params"] = hist["coefficients"]
    if names is not None:
        hist["theta"] = hist["coefficients"]
    if "rejected" in hist:
        hist["diverged"] = hist["rejected"]
    for k, v in (aliases or {}).items():
        if v in hist:
            hist[k] = hist[v]
    n = res.steps_run
    loss = hist.get("loss")
    metrics: dict[str, Any] = {
        f"{per_step}s": n,
        "final_loss": float(np.mean(loss[-1])) if loss is not None and len(loss) else None,
        "best_loss": float(np.mean(res.best_score)),
        f"best_{per_step}": int(np.max(res.best_step)) if np.ndim(res.best_step) == 0 else res.best_step.tolist(),
        "train_seconds": res.seconds,
        f"first_{per_step}_seconds": res.first_chunk_seconds,
        f"seconds_per_{per_step}": steady_seconds_per_step(res.history),
        "diverged_updates": res.rejected,
        "stopped": res.stopped,
        "diverging": bool(res.warnings),
        "warnings": list(res.warnings),
    }
    if not np.ndim(res.best_score):
        metrics["equation"] = rule_equation(rule)
    out = FitResult(rule=rule, history=hist, metrics=metrics, names=names)
    out.extras["engine"] = res
    return out


def steady_seconds_per_step(history: dict) -> float | None:
    """Wall time per step after the first chunk (which holds the compilation), evaluations of
    the selection objective included: ``(t_end − t_1) / (step_end − step_1)``."""
    steps, secs = np.asarray(history.get("step", [])), np.asarray(history.get("seconds", []))
    if len(steps) < 3 or steps[-1] == steps[1]:
        return None
    return float((secs[-1] - secs[1]) / (steps[-1] - steps[1]))
