"""TOML configuration files for ``plastinfer simulate`` and ``plastinfer fit``.

A config has up to four tables::

    [circuit]              # the plastic circuit (simulate: required; fit: defaults to the data's)
    kind = "plastic_layer"
    n_in = 100
    n_out = 1000
    nonlinearity = "sigmoid"
    eta = 1.0

    [rule]                 # simulate: the ground-truth rule
    name = "oja"           # or family = "taylor", terms = { x1y1w0 = 1.0, x0y2w1 = -1.0 }

    [data]                 # simulate: what to record
    n_trajectories = 60
    n_steps = 50
    input_std = 0.316
    noise_std = 0.0
    fraction_recorded = 1.0
    seed = 0

    [model]                # fit: the candidate family, e.g. family = "taylor", init_scale = 0.01
    [fit]                  # fit: TrajectoryFitConfig fields, plus n_test (held-out trajectories)
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from ._checks import as_float, as_int
from ._io import check_file
from .errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20
MAX_SIMULATED_STEPS = 10**8  # trajectories × steps a `simulate` config may ask for
SECTIONS = {"circuit", "rule", "data", "model", "fit", "run"}  # [run]: provenance written by `fit`, ignored
DATA_KEYS = {"n_trajectories", "n_steps", "input_std", "samples_per_step", "noise_std", "fraction_recorded", "seed"}
DATA_DEFAULTS = {"n_trajectories": 60, "n_steps": 50, "input_std": math.sqrt(0.1), "samples_per_step": None,
                 "noise_std": 0.0, "fraction_recorded": 1.0, "seed": 0}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML config and check its tables; errors name the file and the problem."""
    path = check_file(path, "a config is a TOML file", ConfigError, "config file")
    try:
        text = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(text):,} bytes is too large for a config file")
    try:
        cfg = tomllib.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (a TOML config must be UTF-8)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    unknown = set(cfg) - SECTIONS
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}; allowed: {sorted(SECTIONS)}")
    for name, table in cfg.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
    return cfg


def data_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    table = dict(cfg.get("data", {}))
    unknown = set(table) - DATA_KEYS
    if unknown:
        raise ConfigError(f"data: unknown key(s) {sorted(unknown)}; allowed: {sorted(DATA_KEYS)}")
    out = {**DATA_DEFAULTS, **table}
    for k in ("n_trajectories", "n_steps"):
        out[k] = as_int(out[k], k, "data", minimum=1)
    out["seed"] = as_int(out["seed"], "seed", "data")
    if out["samples_per_step"] is not None:
        out["samples_per_step"] = as_int(out["samples_per_step"], "samples_per_step", "data", minimum=1)
    out["input_std"] = as_float(out["input_std"], "input_std", "data", positive=True)
    out["noise_std"] = as_float(out["noise_std"], "noise_std", "data", minimum=0.0)
    out["fraction_recorded"] = as_float(out["fraction_recorded"], "fraction_recorded", "data", positive=True)
    if out["fraction_recorded"] > 1:
        raise ConfigError(f"data: fraction_recorded must be in (0, 1], got {out['fraction_recorded']}")
    if out["n_trajectories"] * out["n_steps"] > MAX_SIMULATED_STEPS:
        raise ConfigError(f"data: {out['n_trajectories']} trajectories × {out['n_steps']} steps is more than "
                          f"{MAX_SIMULATED_STEPS:,} simulated steps")
    return out


def fit_settings(cfg: dict[str, Any], kind: str = "trajectory"):
    """``(config, n_test)`` from the ``[fit]`` table: a ``TrajectoryFitConfig`` (activity) or a
    ``ChoiceFitConfig`` (``kind="choice"``); ``n_test`` held-out trajectories or subjects."""
    from .infer import ChoiceFitConfig, TrajectoryFitConfig

    cls = ChoiceFitConfig if kind == "choice" else TrajectoryFitConfig
    table = dict(cfg.get("fit", {}))
    n_test = table.pop("n_test", 10 if kind != "choice" else 0)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - fields
    if unknown:
        raise ConfigError(f"fit: unknown key(s) {sorted(unknown)} for a {kind} fit; allowed: "
                          f"{sorted(fields | {'n_test'})}")
    n_test = as_int(n_test, "n_test", "fit", minimum=0)
    try:
        return cls(**table), n_test
    except TypeError as err:
        raise ConfigError(f"fit: {err}") from None
