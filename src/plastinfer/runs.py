"""Run folders and the functions the CLI and the demo call.

A run folder holds ``config.toml``, ``metrics.json``, ``history.npz``, ``rule.npz``,
``checkpoint.npz`` (kept up to date during the fit, for ``--resume``) and figures; files
are written atomically and a folder is never overwritten unless asked.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .errors import PlastinferInputError
from ._io import atomic_write
from .infer import FitResult, rule_equation

from .rules import AbstractRule, rule_from_spec, rule_to_spec


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
    """Write a fit's folder (config, metrics, history, rule — or ``rules/NNN.npz``, one per
    subject, for per-subject fits — and figures); returns the figure paths.
    The checkpoint is written by the fit itself (``checkpoint=run_dir / "checkpoint.npz"``)."""
    from .analysis import figures as figs

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_toml(run_dir / "config.toml", config)
    write_json(run_dir / "metrics.json", {"results": result.metrics, "names": result.names})
    hist = {k: np.asarray(v) for k, v in result.history.items()}
    atomic_write(run_dir / "history.npz", lambda fh: np.savez(fh, **hist))
    if "rules" in result.extras:  # one rule per subject: rules/000.npz, …
        (run_dir / "rules").mkdir(exist_ok=True)
        for i, rule in enumerate(result.extras["rules"]):
            save_rule(run_dir / "rules" / f"{i:03d}.npz", rule)
    else:
        save_rule(run_dir / "rule.npz", result.rule)
    result.run_dir = run_dir
    return figs.fit_figures(result, run_dir) if figures else []


def machine() -> dict:
    """The machine a benchmark or reproduction ran on (platform, device, CPUs, versions)."""
    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "device": getattr(dev, "device_kind", str(dev)),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "host": platform.node(),
    }


def simulate_from_config(cfg: dict, output: Path, *, force: bool = False, source: str = "config") -> None:
    """Shared by ``simulate`` and ``demo``: build circuit and rule, simulate, save."""
    from .circuits import circuit_from_spec
    from .config import data_settings
    from .data import simulate
    from .rules import rule_from_spec

    for table in ("circuit", "rule"):
        if table not in cfg:
            raise PlastinferInputError(f"{source}: missing table [{table}]")
    if output.exists() and not force:
        raise PlastinferInputError(f"{output} exists; pass --force to overwrite it")
    circuit = circuit_from_spec(cfg["circuit"])
    rule = rule_from_spec(cfg["rule"])
    ds = data_settings(cfg)
    t0 = time.perf_counter()
    data = simulate(
        jax.random.PRNGKey(ds["seed"]),
        circuit,
        rule,
        ds["n_trajectories"],
        ds["n_steps"],
        input_std=ds["input_std"],
        samples_per_step=ds["samples_per_step"],
        noise_std=ds["noise_std"],
        fraction_recorded=ds["fraction_recorded"],
    )
    data.save(output, force=force)
    print(
        f"simulated {data.n_trajectories} trajectories × {data.n_steps} steps, {data.n_units}/{data.n_out} units "
        f"recorded, rule {rule.equation()} ({time.perf_counter() - t0:.1f} s) → {output}"
    )


def _load_choices(path: Path, readout: str):
    from .data import load_choice_csv, load_fly_folders, load_xyr_mat

    path = Path(path)
    if not path.exists():
        raise PlastinferInputError(f"{path}: no such data file or folder")
    if path.is_dir():
        return load_fly_folders(path)
    if path.suffix.lower() == ".csv":
        return load_choice_csv(path, readout=readout)
    if path.suffix.lower() == ".mat":
        return load_xyr_mat(path)
    raise PlastinferInputError(f"{path}: choice data must be a tidy .csv table, an X/Y/R .mat file or a folder of "
                               "per-fly folders")


def run_fit(cfg: dict, data_path: Path, out: Path, *, force=False, resume=False, epochs=None, progress=True):
    """Shared by ``fit`` and ``demo``: load, split, fit, write the run folder.

    The ``[circuit]`` kind picks the fit: activity trajectories (``plastic_layer``,
    ``lateral_network``: a ``.npz`` data set; ``[model]`` may be a tuple of rules) or choices
    (``choice``: a choice table, ``.mat`` file or folder of flies; ``n_test`` subjects held out).
    The checkpoint is kept up to date during the fit, so ``resume`` continues a killed run."""
    from .circuits import circuit_from_spec
    from .config import fit_settings
    from .data import Dataset
    from .infer import evaluate_choices, fit_choices, fit_trajectory

    circuit_spec = cfg.get("circuit")
    data = None
    if circuit_spec is None or circuit_spec.get("kind", "plastic_layer") != "choice":
        if Path(data_path).suffix.lower() != ".npz" and circuit_spec is None:
            raise PlastinferInputError("fit: no [circuit] table in the config; choice data need kind = \"choice\"")
        data = Dataset.load(data_path)
        circuit_spec = circuit_spec or data.meta.get("circuit")
    if not circuit_spec:
        raise PlastinferInputError("fit: no [circuit] table in the config and none recorded in the data set")
    circuit = circuit_from_spec(circuit_spec)
    kind = circuit.config()["kind"]
    if kind == "lif_neuron":
        raise PlastinferInputError("fit: the LIF neuron's inputs are spike trains drawn from input realisations, which a "
                                   "data set file does not hold; fit it from Python with ActivityProblem and "
                                   "plastinfer.fit (README: 'Any circuit')")
    fit_cfg, n_test = fit_settings(cfg, kind="choice" if kind == "choice" else "trajectory")
    if epochs is not None:
        fit_cfg = dataclasses.replace(fit_cfg, epochs=int(epochs))
    model_spec = cfg.get("model", {"family": "taylor"})
    rule0 = rule_from_spec(model_spec, key=jax.random.PRNGKey(fit_cfg.seed + 1))
    run_dir = prepare_run_dir(out, force=force, resume=resume)
    if kind == "choice":
        choices = _load_choices(data_path, circuit.readout)
        if n_test >= choices.n_subjects:
            raise PlastinferInputError(f"fit: n_test = {n_test} leaves no training subjects of {choices.n_subjects}")
        n_train = choices.n_subjects - n_test
        train = choices.select(range(n_train))
        result = fit_choices(rule0, circuit, train, config=fit_cfg, progress=progress,
                             checkpoint=run_dir / "checkpoint.npz", resume=resume)
        if n_test > 0 and not fit_cfg.per_subject:
            ev = evaluate_choices(result.rule, circuit, choices.select(range(n_train, choices.n_subjects)))
            result.metrics["test_median_percent_deviance"] = ev["median_percent_deviance"]
    else:
        train, test = data.split(n_test) if n_test > 0 else (data, None)
        result = fit_trajectory(rule0, circuit, train, config=fit_cfg, test=test, progress=progress,
                                checkpoint=run_dir / "checkpoint.npz", resume=resume)
    full_cfg = {**cfg, "circuit": circuit.config(), "model": model_spec,
                "fit": {**dataclasses.asdict(fit_cfg), "n_test": n_test},
                "run": {"data_file": str(data_path), "resumed": bool(resume)}}
    figures = write_run(run_dir, result, full_cfg)
    return result, figures


def print_fit(result, figures, out: Path) -> None:
    m = result.metrics
    if "equations" in result.metrics:  # one rule per subject
        for i, eq in enumerate(result.metrics["equations"]):
            print(f"subject {i}: {eq}")
    else:
        print(f"fitted rule (terms with |θ| ≥ 0.05): {rule_equation(result.rule, 0.05)}")
    parts = [f"final loss {m['final_loss']:.3g}" if m.get("final_loss") is not None else None]
    for k in ("test_r2_weights", "test_r2_activity", "test_median_percent_deviance"):
        if m.get(k) is not None:
            parts.append(f"{k.removeprefix('test_')} (held out) {m[k]:.3f}")
    print("; ".join(p for p in parts if p))
    if m.get("diverged_updates"):
        print(f"warning: {m['diverged_updates']} updates diverged and were skipped")
    print(f"run folder: {out}  (figures: {', '.join(p.name for p in figures)})")
