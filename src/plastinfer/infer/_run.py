"""Run folders: ``config.toml``, ``metrics.json``, ``history.npz``, ``rule.npz``,
``checkpoint.npz`` and figures. Written atomically; never overwritten unless asked."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np
from .._errors import PlastinferInputError
from .._io import atomic_write
from ..rules import AbstractRule, rule_from_spec, rule_to_spec
from ._result import FitResult


class RunExistsError(PlastinferInputError):
    """The run folder exists and holds a run."""


def prepare_run_dir(path: str | os.PathLike, *, force: bool = False, resume: bool = False) -> Path:
    """Create ``path`` for a new run; refuse a folder that already holds files unless
    ``force`` (its contents are then replaced) or ``resume`` (it must hold a checkpoint)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunExistsError(f"{path} exists and is not a folder")
    if resume:
        if not (path / "checkpoint.npz").exists():
            raise RunExistsError(f"{path}: nothing to resume (no checkpoint.npz)")
        return path
    if path.exists() and any(path.iterdir()):
        if not force:
            raise RunExistsError(f"{path} already holds a run; pass --force to replace it or --resume to continue it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(value).tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False).encode()))


def write_toml(path: Path, obj: dict) -> None:
    import tomli_w

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    atomic_write(path, lambda fh: fh.write(tomli_w.dumps(clean(obj)).encode()))


def save_rule(path: Path, rule: AbstractRule) -> None:
    """``rule.npz``: the rule's spec (JSON) and its arrays (no pickle)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(rule, eqx.is_inexact_array))
    arrays = {f"leaf_{i:04d}": np.asarray(v) for i, v in enumerate(leaves)}
    arrays["spec"] = np.frombuffer(json.dumps(rule_to_spec(rule)).encode(), np.uint8)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_rule(path: str | os.PathLike) -> AbstractRule:
    path = Path(path)
    if not path.exists():
        raise PlastinferInputError(f"{path}: no such rule file")
    with np.load(path, allow_pickle=False) as npz:
        spec = json.loads(npz["spec"].tobytes().decode())
        leaves = [npz[k] for k in sorted(k for k in npz.files if k.startswith("leaf_"))]
    template = rule_from_spec(spec, key=jax.random.PRNGKey(0))
    params, static = eqx.partition(template, eqx.is_inexact_array)
    flat, treedef = jax.tree_util.tree_flatten(params)
    if len(flat) != len(leaves):
        raise PlastinferInputError(f"{path}: holds {len(leaves)} arrays, the rule needs {len(flat)}")
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(v) for v in leaves]), static)


def write_run(run_dir: Path, result: FitResult, config: dict, *, figures: bool = True) -> list[Path]:
    """Write a fit's folder; returns the figure paths."""
    from ..analysis import figures as figs
    from .trajectory import state_to_arrays

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_toml(run_dir / "config.toml", config)
    write_json(run_dir / "metrics.json", {"results": result.metrics, "names": result.names})
    hist = dict(result.history)
    atomic_write(run_dir / "history.npz", lambda fh: np.savez(fh, **hist))
    save_rule(run_dir / "rule.npz", result.rule)
    if "state" in result.extras:
        arrays = state_to_arrays(result.extras["state"])
        arrays["epoch"] = np.asarray(result.extras.get("epoch", 0))
        atomic_write(run_dir / "checkpoint.npz", lambda fh: np.savez(fh, **arrays))
    result.run_dir = run_dir
    return figs.fit_figures(result, run_dir) if figures else []


def read_checkpoint(run_dir: Path) -> dict:
    """What :func:`~plastinfer.infer.fit_trajectory` needs to resume a run."""
    run_dir = Path(run_dir)
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k.startswith("leaf_")}
        epoch = int(npz["epoch"])
    with np.load(run_dir / "history.npz", allow_pickle=False) as npz:
        history = {k: npz[k] for k in npz.files}
    return {"arrays": arrays, "epoch": epoch, "history": history}
