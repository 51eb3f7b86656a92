r"""A comparison table of rules, however they were fit (Ramesh et al. 2023, Figs. 2–4).

Each rule is run on each *test setting* — an activity generator (circuit, input
statistics, noise) and held-out recorded traces from it — and scored on what the data can
show and on what they cannot:

- ``w1_mean`` / ``w1_max``: the mean / largest over time of the per-time-point
  1-Wasserstein distance between the rule's activity and the held-out traces
  (:func:`activity_distance`); the ground-truth rule's row is the sampling floor;
- ``pc1_final``: the median over networks of the final sign-invariant ``‖w − PC_1‖``;
- ``fixed_points``: the fixed points of the rule's ``(w, y)`` system at ``x``
  (:func:`fixed_points`), as ``w*`` with ``s`` (stable) or ``u``.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np

from ._portraits import activity_distance, fixed_points


def compare_rules(rules: Mapping, tests: Mapping, key: jax.Array, n_networks: int = 100, x: float = 0.5) -> dict:
    """``{rule: {"fixed_points": str, test: {"w1_mean", "w1_max", "pc1_final"}}}``.

    ``rules``: name → rule. ``tests``: name → ``(generator, held_out)`` with ``generator``
    an :class:`~plastinfer.infer.adversarial.ActivityGenerator` and ``held_out`` its
    recorded traces ``(n, T)``. Every rule sees the same ``n_networks`` fresh networks of a
    setting (same ``key``). A rule that cannot run on a setting (a global MLP built for
    another layer size) gets ``None`` there.
    """
    table: dict = {}
    for name, rule in rules.items():
        row: dict = {"fixed_points": ", ".join(f"{fp['w']:.2f}{'s' if fp['stable'] else 'u'}"
                                               for fp in fixed_points(rule, x)) or "none in [−3, 3]"}
        for test, (gen, held) in tests.items():
            try:
                traces = np.asarray(gen.traces(rule, key, n_networks))
            except ValueError:
                row[test] = None
                continue
            d = activity_distance(traces, held)
            row[test] = {"w1_mean": float(d.mean()), "w1_max": float(d.max()),
                         "pc1_final": float(np.median(gen.weight_distances(rule, key, n_networks)[..., -1]))}
        table[name] = row
    return table


def comparison_markdown(table: Mapping) -> str:
    """The table of :func:`compare_rules` as Markdown: one row per rule, per test setting
    the mean W1 distance and the final ``‖w − PC_1‖``, then the fixed points."""
    tests = [k for k in next(iter(table.values())) if k != "fixed_points"]
    head = ["rule"] + [f"{t}: W1 mean / final ‖w−PC1‖" for t in tests] + ["fixed points at x = 0.5"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in table.items():
        cells = [name]
        for t in tests:
            c = row[t]
            cells.append("—" if c is None else f"{c['w1_mean']:.3f} / {c['pc1_final']:.2f}")
        cells.append(row["fixed_points"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
