"""Named reproductions of paper figures and tables (``plastinfer reproduce NAME``).

Each experiment is ``run(out_dir, quick=False, progress=True) -> dict`` that writes
``out_dir/metrics.json`` (with a ``results`` object) and PNG figures, and prints our
numbers beside the paper's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    paper: str
    description: str
    run: Callable[..., dict]
    options: tuple[str, ...] = ()  # extra keyword options run() accepts (CLI: --data, --all)


def _registry() -> dict[str, Experiment]:
    from . import (bandit, calibration, confavreux, confavreux_fig3, mehta_behavior, mehta_fig2, mehta_fly, mehta_fly_posterior,
                   nayebi, ramesh)

    exps = [mehta_fig2.EXPERIMENT, mehta_behavior.FIG3, mehta_behavior.TABLE1_EXP, mehta_behavior.TABLE2_EXP,
            mehta_fly.EXPERIMENT, confavreux.FIG1, confavreux.FIG2, confavreux_fig3.FIG3,
            ramesh.FIG2, ramesh.FIG3, ramesh.FIG4, nayebi.FIG2, nayebi.FIG3, nayebi.FIG4, nayebi.FIG5,
            mehta_fly_posterior.EXPERIMENT, calibration.ACTIVITY, calibration.FLIES, calibration.SBC,
            bandit.RECOVERY, bandit.FLIES]
    return {e.name: e for e in exps}


def list_experiments() -> list[Experiment]:
    return list(_registry().values())


def get_experiment(name: str) -> Experiment:
    from ..errors import PlastinferInputError

    reg = _registry()
    if name not in reg:
        raise PlastinferInputError(f"unknown reproduction {name!r}; available: {', '.join(sorted(reg))}")
    return reg[name]
