"""The result type shared by every fitter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..rules import AbstractRule


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
