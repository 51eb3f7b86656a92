"""Run folders and the functions the CLI and the demo call.

A run folder holds ``config.toml``, ``metrics.json``, ``history.npz``, ``rule.npz``,
``checkpoint.npz`` (kept up to date during the fit, for ``--resume``), figures and the
manifest :data:`MANIFEST`. Commands write into a staged sibling and move it into place on
success (:class:`RunFolder`), so a failed command creates nothing and ``--force`` never
removes a file plastinfer did not write.
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

from .errors import DatasetError, PlastinferInputError
from ._checks import check_memory
from ._io import atomic_write, read_npz
from .infer import FitResult, rule_equation

from .rules import AbstractRule, rule_from_spec, rule_to_spec


class RunExistsError(PlastinferInputError):
    """The run folder exists and holds a run (or something that is not a run)."""


MANIFEST = ".plastinfer-run.json"  # marks a folder plastinfer wrote, and lists what it wrote
CHECKPOINT = "checkpoint.npz"


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def _listed(folder: Path) -> set[str]:
    """What ``folder``'s manifest lists (empty when there is none or it is unreadable)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return set()
    try:
        files = json.loads(manifest.read_text()).get("files", [])
        return {*(f for f in files if isinstance(f, str)), MANIFEST}
    except (ValueError, AttributeError, OSError, UnicodeDecodeError):
        return set()


def _foreign_files(folder: Path) -> list[str]:
    """Files in ``folder`` that its manifest does not list (all of them when there is none). A
    file inside a nested run folder (e.g. ``RUN/posterior-nuts`` written by ``plastinfer
    posterior``) counts as listed when that folder's own manifest lists it."""
    listed = _listed(folder)
    out = []
    for f in _files(folder):
        if f in listed:
            continue
        path, owned = folder / f, False
        for sub in list(path.parents)[:len(Path(f).parts) - 1]:  # nested folders between folder and the file
            if f"{path.relative_to(sub)}" in _listed(sub):
                owned = True
                break
        if not owned:
            out.append(f)
    return out


def _check_writable(path: Path) -> Path:
    """The nearest existing ancestor of ``path``: it must be a folder this user can write."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise RunExistsError(f"{path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunExistsError(f"{path}: cannot write into {probe} (permission denied)")
    return probe


class RunFolder:
    """An output folder written so that nothing is ever lost.

    ``RunFolder(path, force=…, resume=…, inputs=[…])`` checks, before anything is computed or
    created, that the folder can be written: ``path`` is new or empty; or ``force`` and it is
    a run folder plastinfer wrote (a manifest, :data:`MANIFEST`, lists every file in it — the
    working folder or a folder holding inputs is refused); or ``resume`` and a checkpoint
    exists. No input may lie inside a folder that will be replaced.

    ``with folder as stage:`` the command writes into ``stage``, a hidden sibling
    ``.NAME.partial``; on success the manifest is written and the stage replaces ``path``
    (the old run is removed only then). On an error the stage is removed, so a failing
    command creates nothing and leaves an old run intact; on Ctrl-C or a crash the stage
    is kept when it holds a checkpoint, and ``resume`` continues from it.
    """

    def __init__(self, path: str | os.PathLike, *, force: bool = False, resume: bool = False,
                 inputs: tuple = ()):
        self.path = Path(os.path.abspath(path))
        self.force, self.resume = force, resume
        if self.path.parent == self.path:
            raise RunExistsError(f"{path}: cannot write a run into the file system's root")
        self.stage = self.path.parent / f".{self.path.name}.partial"
        self._created: list[Path] = []
        _check_writable(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise RunExistsError(f"{path} exists and is not a folder")
        occupied = self.path.is_dir() and any(self.path.iterdir())
        if occupied and (force or resume):
            cwd = Path.cwd()
            if _is_within(cwd, self.path):
                raise RunExistsError(f"{path} is (or holds) the working folder; it will not be replaced")
            for item in inputs:
                if item is not None and _is_within(Path(item), self.path):
                    raise RunExistsError(f"{item} lies inside {path}, which this command would replace; "
                                         "move it out or write to another folder")
        if resume:
            if not (self.stage / CHECKPOINT).is_file() and not (self.path / CHECKPOINT).is_file():
                raise RunExistsError(f"{path}: nothing to resume (no {CHECKPOINT})")
            return
        if occupied:
            if not force:
                raise RunExistsError(f"{path} already holds files; pass --force to replace a run folder or "
                                     "--resume to continue it")
            foreign = _foreign_files(self.path)
            if foreign:
                what = "it is not a plastinfer run folder" if not (self.path / MANIFEST).exists() else \
                    "it holds files plastinfer did not write"
                raise RunExistsError(f"{path}: --force only replaces a run folder plastinfer wrote, and {what} "
                                     f"({foreign[0]!r}{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''})")
        if self.stage.exists() and not force:
            raise RunExistsError(f"{self.stage} holds an interrupted run; pass --resume to continue it or --force to "
                                 "discard it")

    # ------------------------------------------------------------------ staging
    def __enter__(self) -> Path:
        missing = []
        probe = self.path.parent
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            if self.stage.exists() and not self.resume:
                shutil.rmtree(self.stage)  # a discarded interrupted run (--force)
            if not self.stage.exists():
                self.stage.mkdir()
                if self.resume:
                    shutil.copy2(self.path / CHECKPOINT, self.stage / CHECKPOINT)
        except OSError as err:
            self._cleanup()
            raise RunExistsError(f"{self.path}: cannot create the run folder ({err.strerror})") from None
        return self.stage

    def __exit__(self, kind, err, tb) -> bool:
        if kind is None:
            try:
                self.commit()
            except OSError as e:
                raise RunExistsError(f"{self.path}: could not move the finished run into place ({e.strerror}); "
                                     f"it is in {self.stage}") from None
            return False
        if issubclass(kind, KeyboardInterrupt) and (self.stage / CHECKPOINT).is_file():
            return False  # keep the stage: --resume continues from its checkpoint
        self._cleanup()
        if isinstance(err, PlastinferInputError) and err.args and str(self.stage) in str(err.args[0]):
            err.args = (str(err.args[0]).replace(str(self.stage), str(self.path)),) + err.args[1:]
        return False

    def _cleanup(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                pass

    def commit(self) -> None:
        """Write the manifest and move the stage into place (the old run is removed last)."""
        manifest = {"plastinfer": _version(), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "files": _files(self.stage)}
        write_json(self.stage / MANIFEST, manifest)
        if self.path.is_dir() and not any(self.path.iterdir()):  # an empty folder (perhaps the working one)
            for item in self.stage.iterdir():
                os.replace(item, self.path / item.name)
            self.stage.rmdir()
            return
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
            os.replace(self.path, old)
        os.replace(self.stage, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def final(self, path: Path) -> Path:
        """Where a file written into the stage will be once the run is in place."""
        path = Path(path)
        return self.path / path.relative_to(self.stage) if _is_within(path, self.stage) else path


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("plastinfer")
    except Exception:  # noqa: BLE001 — not installed as a distribution
        return "unknown"


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
    if not all(np.all(np.isfinite(a)) for a in arrays.values()):
        raise FloatingPointError(f"{path}: the rule holds non-finite values; it is not written")
    arrays["spec"] = np.frombuffer(json.dumps(rule_to_spec(rule)).encode(), np.uint8)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_rule(path: str | os.PathLike) -> AbstractRule:
    path = Path(path)
    arrays = read_npz(path, "rule file")
    if "spec" not in arrays:
        raise DatasetError(f"{path}: missing field 'spec' (not a plastinfer rule file)")
    try:
        spec = json.loads(arrays["spec"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise DatasetError(f"{path}: field 'spec' is not valid JSON ({type(err).__name__})") from None
    leaves = [arrays[k] for k in sorted(k for k in arrays if k.startswith("leaf_"))]
    if not all(np.all(np.isfinite(v)) for v in leaves if v.dtype.kind == "f"):
        raise DatasetError(f"{path}: the rule's arrays hold non-finite values")
    template = rule_from_spec(spec, key=jax.random.PRNGKey(0))
    params, static = eqx.partition(template, eqx.is_inexact_array)
    flat, treedef = jax.tree_util.tree_flatten(params)
    if len(flat) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(flat, leaves)):
        raise DatasetError(f"{path}: holds arrays of shapes {[np.shape(v) for v in leaves]}, the rule needs "
                           f"{[np.shape(a) for a in flat]}")
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
    if "latent_init" in result.extras:  # fitted initial weights: what `plastinfer posterior` conditions on
        w0 = np.asarray(result.extras["latent_init"])
        atomic_write(run_dir / "latent_init.npz", lambda fh: np.savez(fh, w0=w0))
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
    output = Path(output)
    if output.suffix.lower() != ".npz":
        raise PlastinferInputError(f"{output}: a data set is written as a .npz file")
    _check_writable(output.parent)
    if output.exists():
        if output.is_dir():
            raise PlastinferInputError(f"{output} is a folder; name the .npz file to write")
        if not force:
            raise PlastinferInputError(f"{output} exists; pass --force to overwrite it")
        if not _is_dataset_file(output):
            raise PlastinferInputError(f"{output} is not a plastinfer data set; --force only overwrites one")
    circuit = circuit_from_spec(cfg["circuit"])
    rule = rule_from_spec(cfg["rule"])
    ds = data_settings(cfg)
    k = ds["samples_per_step"] or 1
    n_in, n_out = _layer_sizes(circuit)
    need = 4 * ds["n_trajectories"] * (ds["n_steps"] * k * (n_in + n_out) + n_in * n_out)
    check_memory(need, f"{source}: simulating {ds['n_trajectories']} trajectories × {ds['n_steps']} steps")
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


def _layer_sizes(circuit) -> tuple[int, int]:
    """``(n_in, n_out)`` of a circuit, 1 where it has no such size (for memory estimates)."""
    return getattr(circuit, "n_in", 1), getattr(circuit, "n_out", 1)


def _is_dataset_file(path: Path) -> bool:
    from .data import Dataset

    try:
        Dataset.load(path)
        return True
    except PlastinferInputError:
        return False


def _load_choices(path: Path, readout: str):
    from .data import load_choice_csv, load_fly_folders, load_xyr_mat

    path = Path(path)
    if not path.exists():
        raise PlastinferInputError(f"{path}: no such data file or folder")
    if path.is_dir() and any(path.rglob("choice_order.mat")):
        return load_fly_folders(path)
    if path.is_dir() or path.suffix.lower() in (".nwb", ".parquet", ".pq"):
        from .data import load_choice_data

        return load_choice_data(path, readout=readout)
    if path.suffix.lower() == ".csv":
        return load_choice_csv(path, readout=readout)
    if path.suffix.lower() == ".mat":
        return load_xyr_mat(path)
    raise PlastinferInputError(f"{path}: choice data must be a tidy .csv / .parquet table, an NWB file, an X/Y/R .mat "
                               "file, or a folder of per-fly folders, tables or NWB files")


def _fit_inputs(cfg: dict, data_path: Path, epochs: int | None = None):
    """What a fit config and data file define: ``(circuit, kind, fit config, n_test, model
    spec, train, test)``, split as ``fit`` splits them (checked; one-line errors)."""
    from .circuits import circuit_from_spec
    from .config import fit_settings
    from .data import Dataset

    if not Path(data_path).exists():
        raise PlastinferInputError(f"{data_path}: no such file or folder")
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
    if kind == "choice":
        choices = _load_choices(data_path, circuit.readout)
        if n_test >= choices.n_subjects:
            raise PlastinferInputError(f"fit: n_test = {n_test} leaves no training subjects of {choices.n_subjects}")
        n_train = choices.n_subjects - n_test
        train = choices.select(range(n_train))
        test = choices.select(range(n_train, choices.n_subjects)) if n_test > 0 else None
    else:
        if n_test >= data.n_trajectories:
            raise PlastinferInputError(f"fit: n_test = {n_test} leaves no training trajectories of "
                                       f"{data.n_trajectories}")
        train, test = data.split(n_test) if n_test > 0 else (data, None)
        n_in, n_out = _layer_sizes(circuit)
        check_memory(4 * data.n_trajectories * n_in * n_out, f"fit: holding the weights of {data.n_trajectories} "
                     f"trajectories of a {n_in} → {n_out} circuit")
    return circuit, kind, fit_cfg, n_test, model_spec, train, test


def run_fit(cfg: dict, data_path: Path, out: Path, *, force=False, resume=False, epochs=None, progress=True,
            inputs: tuple = (), uncertainty: str | None = None):
    """Shared by ``fit`` and ``demo``: check the output folder, load and check the data, fit,
    write the run folder (staged: see :class:`RunFolder`; ``inputs``: further input files,
    e.g. the config, that must not lie inside a folder being replaced).

    The ``[circuit]`` kind picks the fit: activity trajectories (``plastic_layer``,
    ``lateral_network``: a ``.npz`` data set; ``[model]`` may be a tuple of rules) or choices
    (``choice``: a choice table, ``.mat`` file or folder of flies; ``n_test`` subjects held out).
    The checkpoint is kept up to date during the fit, so ``resume`` continues a killed run.
    ``uncertainty`` (``"laplace"`` or ``"nuts"``): also take the fit's posterior and write it to
    ``posterior/`` (see :func:`write_posterior`)."""
    from .infer import evaluate_choices, fit_choices, fit_trajectory
    from .uncertainty._posterior import METHODS

    if uncertainty is not None and uncertainty not in METHODS:
        raise PlastinferInputError(f"--uncertainty must be one of {list(METHODS)}, got {uncertainty!r}")

    folder = RunFolder(out, force=force, resume=resume, inputs=(data_path, *inputs))
    circuit, kind, fit_cfg, n_test, model_spec, train, test = _fit_inputs(cfg, data_path, epochs)
    rule0 = rule_from_spec(model_spec, key=jax.random.PRNGKey(fit_cfg.seed + 1))
    full_cfg = {**cfg, "circuit": circuit.config(), "model": model_spec,
                "fit": {**dataclasses.asdict(fit_cfg), "n_test": n_test},
                "run": {"data_file": str(data_path), "resumed": bool(resume)}}
    with folder as stage:
        if kind == "choice":
            result = fit_choices(rule0, circuit, train, config=fit_cfg, progress=progress,
                                 checkpoint=stage / CHECKPOINT, resume=resume)
            if test is not None and not fit_cfg.per_subject:
                ev = evaluate_choices(result.rule, circuit, test)
                result.metrics["test_median_percent_deviance"] = ev["median_percent_deviance"]
        else:
            result = fit_trajectory(rule0, circuit, train, config=fit_cfg, test=test, progress=progress,
                                    checkpoint=stage / CHECKPOINT, resume=resume)
        figures = write_run(stage, result, full_cfg)
        if uncertainty is not None:
            post = take_posterior(result.extras["problem"], result.extras["params"], uncertainty, progress=progress)
            figures += write_posterior(stage / "posterior", post)
            result.extras["posterior"] = post
    result.run_dir = folder.path
    return result, [folder.final(f) for f in figures]


def take_posterior(problem, params, method: str, *, progress: bool = True, **options):
    """The posterior of a fitted problem with the CLI's defaults: Laplace with 50 L-BFGS
    iterations towards the mode; NUTS 4 chains × 1,000 draws after 300 warmup steps, Gaussian
    prior sd 10 (``options`` override)."""
    from .uncertainty import posterior

    if method == "laplace":
        options = {"refine": 50, **options}
    else:
        options = {"progress": progress, **options}
    return posterior(problem, params, method=method, **options)


def write_posterior(folder: Path, post) -> list[Path]:
    """Write a posterior (or one per subject): ``posterior.npz`` (``NNN/posterior.npz`` per
    subject), ``summary.csv`` (a ``subject`` column when per subject), ``report.txt``, and the
    figures ``corner.png`` and ``spectrum.png`` (per-subject fits: subject 0's, and
    ``sign_probabilities.png`` of every subject). Returns the figure paths."""
    import pandas as pd

    from .uncertainty._figures import corner, sign_probabilities, spectrum

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    posts = post if isinstance(post, list) else [post]
    tables, reports = [], []
    for i, p in enumerate(posts):
        if len(posts) > 1:
            (folder / f"{i:03d}").mkdir(exist_ok=True)
            p.save(folder / f"{i:03d}" / "posterior.npz")
        else:
            p.save(folder / "posterior.npz")
        t = p.summary()
        t.index.name = "coefficient"
        if len(posts) > 1:
            t.insert(0, "subject", i)
        tables.append(t)
        reports.append((f"subject {i}\n" if len(posts) > 1 else "") + p.report()
                       + "".join(f"\nWARNING: {w}" for w in p.warnings() if p.method == "laplace"))
    table = pd.concat(tables)
    atomic_write(folder / "summary.csv", lambda fh: fh.write(table.to_csv().encode()))
    atomic_write(folder / "report.txt", lambda fh: fh.write("\n\n".join(reports).encode() + b"\n"))
    figures = [corner(posts[0], folder / "corner.png")]
    lap = posts[0] if posts[0].method == "laplace" else posts[0].laplace
    if lap is not None:
        figures.append(spectrum(lap, folder / "spectrum.png"))
    if len(posts) > 1:
        figures.append(sign_probabilities(posts, folder / "sign_probabilities.png"))
    return figures


def print_posterior(post, folder: Path | None = None) -> None:
    """The summary table and every warning (per subject for a list)."""
    import pandas as pd

    posts = post if isinstance(post, list) else [post]
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        for i, p in enumerate(posts):
            if len(posts) > 1:
                print(f"— subject {i} —")
            print(p.summary().to_string())
            for w in p.warnings():
                print(f"warning: {w}")
    if posts[0].method == "laplace" or posts[0].laplace is not None:
        lap = posts[0] if posts[0].method == "laplace" else posts[0].laplace
        print(lap.report() if len(posts) == 1 else f"subject 0: {lap.report()}")
    if folder is not None:
        print(f"posterior written to {folder} (posterior.npz, summary.csv, report.txt, figures)")


def problem_from_run(run_dir: Path, data_path: Path | None = None):
    """Rebuild a run's fitted problem and parameters from its folder: ``config.toml`` (circuit,
    model, fit settings, data file), ``rule.npz`` or ``rules/``, ``latent_init.npz``. The data
    file is the one the run names, or ``data_path``; it must be the data the fit used (checked
    against the checkpoint's data hash when the run kept one). Returns ``(problem, params)``."""
    from .config import load_config
    from .infer import activity_problem, choice_problem
    from .infer._problem import rule_params
    from .infer.behavior import stack_rules

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PlastinferInputError(f"{run_dir}: no such run folder")
    if not (run_dir / "config.toml").is_file():
        raise PlastinferInputError(f"{run_dir}: not a fit's run folder (no config.toml)")
    cfg = load_config(run_dir / "config.toml")
    if data_path is None:
        named = cfg.get("run", {}).get("data_file")
        if not isinstance(named, str):
            raise PlastinferInputError(f"{run_dir}/config.toml names no data file; pass --data")
        data_path = Path(named)
        if not data_path.exists():
            raise PlastinferInputError(f"{data_path} (the run's data file) is not there; pass --data")
    circuit, kind, fit_cfg, _, model_spec, train, _ = _fit_inputs(cfg, Path(data_path))
    rule0 = rule_from_spec(model_spec, key=jax.random.PRNGKey(fit_cfg.seed + 1))  # the fit's start, as in run_fit
    if (run_dir / "rules").is_dir():
        files = sorted((run_dir / "rules").glob("*.npz"))
        rules = [load_rule(f) for f in files]
        if kind != "choice" or not fit_cfg.per_subject or len(rules) != train.n_subjects:
            raise PlastinferInputError(f"{run_dir}: {len(rules)} per-subject rules for "
                                       f"{getattr(train, 'n_subjects', 1)} subjects in the data")
        problem, _, _ = choice_problem(rule0, circuit, train, config=fit_cfg)
        params = rule_params(stack_rules(rules))[0]
    else:
        rule = load_rule(run_dir / "rule.npz")
        if kind == "choice":
            problem, _, _ = choice_problem(rule0, circuit, train, config=fit_cfg)
        else:
            problem, params, _ = activity_problem(rule0, circuit, train, config=fit_cfg)
        if jax.tree_util.tree_structure(rule_params(rule)[0]) != jax.tree_util.tree_structure(rule_params(rule0)[0]):
            raise PlastinferInputError(f"{run_dir}/rule.npz is not of the family the run's [model] describes")
        if kind == "choice":
            params = rule_params(rule)[0]
        else:
            params = {**params, "rule": rule_params(rule)[0]}
            if "w0" in params:
                if not (run_dir / "latent_init.npz").is_file():
                    raise PlastinferInputError(f"{run_dir}: the fit had latent initial weights but the run folder "
                                               "has no latent_init.npz (written since this version); refit")
                w0 = read_npz(run_dir / "latent_init.npz", "latent initial weights")["w0"]
                if w0.shape != params["w0"].shape:
                    raise PlastinferInputError(f"{run_dir}/latent_init.npz holds {w0.shape} weights; the data need "
                                               f"{tuple(params['w0'].shape)}")
                params["w0"] = jax.numpy.asarray(w0)
    ckpt = run_dir / CHECKPOINT
    if ckpt.is_file():
        from .infer._engine import _data_hash

        stored = read_npz(ckpt, "checkpoint").get("data_hash")
        if stored is not None and bytes(np.asarray(stored, np.uint8)).decode() != _data_hash(problem):
            raise PlastinferInputError(f"{data_path}: these are not the data {run_dir} was fitted to (the checkpoint's "
                                       "data hash differs)")
    return problem, params


def run_posterior(run_dir: Path, *, method: str = "laplace", out: Path | None = None, force: bool = False,
                  data_path: Path | None = None, progress: bool = True, **options):
    """``plastinfer posterior RUN``: rebuild the fit, take its posterior, write it to
    ``RUN/posterior-METHOD`` (or ``out``; a new folder, or ``--force`` over an earlier one)."""
    from .uncertainty._posterior import METHODS

    if method not in METHODS:
        raise PlastinferInputError(f"--method must be one of {list(METHODS)}, got {method!r}")
    out = Path(out) if out is not None else Path(run_dir) / f"posterior-{method}"
    folder = RunFolder(out, force=force, inputs=(data_path,) if data_path is not None else ())
    problem, params = problem_from_run(run_dir, data_path)
    with folder as stage:
        post = take_posterior(problem, params, method, progress=progress, **options)
        figures = write_posterior(stage, post)
    return post, folder.path, [folder.final(f) for f in figures]


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
    for note in m.get("warnings", []):
        print(f"warning: {note}")
    print(f"run folder: {out}  (figures: {', '.join(p.name for p in figures)})")


def parse_columns(text: str | None):
    """``--columns``: a preset name, a JSON object, or a ``.json`` file holding one."""
    if text is None:
        return None
    t = text.strip()
    if t.startswith("{"):
        try:
            value = json.loads(t)
        except json.JSONDecodeError as err:
            raise PlastinferInputError(f"--columns: not a JSON object ({err.msg} at character {err.pos})") from None
        if not isinstance(value, dict):
            raise PlastinferInputError("--columns: expected a JSON object of field → column name")
        return value
    if t.lower().endswith(".json"):
        path = Path(t)
        if not path.is_file():
            raise PlastinferInputError(f"{path}: no such column-map file")
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise PlastinferInputError(f"{path}: not a JSON column map ({type(err).__name__})") from None
        if not isinstance(value, dict):
            raise PlastinferInputError(f"{path}: expected a JSON object of field → column name")
        return value
    return t


def run_compare(data_paths: list[Path], out: Path, *, columns: str | None = None, readout: str | None = None,
                n_arms: int | None = None, models: str | None = None, split: str = "within:0.8",
                sessions: str = "reset", starts: int = 3, steps: int = 150, seed: int = 0, force: bool = False,
                progress: bool = True, l1: float = 0.0):
    """``plastinfer compare``: every option and the data are checked before anything is written;
    the comparison is written into ``out`` (a run folder) atomically. Returns
    ``(comparison, figures)``."""
    from .data import ChoiceColumns, load_choice_data
    from .infer.compare import compare_models, model_registry, parse_split

    parse_split(split)
    names = None
    if models is not None:
        names = [m.strip() for m in models.split(",") if m.strip()]
        known = model_registry(2)
        unknown = [m for m in names if m not in known]
        if not names or unknown:
            raise PlastinferInputError(f"--models: unknown model(s) {unknown or [models]}; known: {sorted(known)}")
    for name, v in (("--starts", starts), ("--steps", steps)):
        if v < 1:
            raise PlastinferInputError(f"{name} must be ≥ 1, got {v}")
    if n_arms is not None and n_arms < 2:
        raise PlastinferInputError(f"--n-arms must be ≥ 2, got {n_arms}")
    if not (l1 >= 0 and l1 < float("inf")):
        raise PlastinferInputError(f"--l1 must be a finite number ≥ 0, got {l1}")
    cols = parse_columns(columns)
    if cols is not None:
        ChoiceColumns.from_mapping(cols)
    folder = RunFolder(out, force=force, inputs=tuple(data_paths))
    data = load_choice_data(data_paths, columns=cols, readout=readout, n_arms=n_arms)
    if progress:
        print(f"[compare] {data.n_subjects} subjects, {int(data.observed.sum())} trials with a choice "
              f"({int(data.ignored.sum())} ignored), {data.n_arms} arms; sessions per subject "
              f"{int(data.n_sessions.min())}–{int(data.n_sessions.max())}", flush=True)
    comp = compare_models(names, data, split=split, sessions=sessions, n_starts=starts, steps=steps, l1=l1,
                          key=jax.random.PRNGKey(seed), progress=progress)
    with folder as stage:
        figures = comp.save(stage)
        write_json(stage / "data.json", {"sources": [str(p) for p in data_paths], "subjects": list(data.subjects),
                                         "trials": int(data.observed.sum()), "ignored": int(data.ignored.sum()),
                                         "n_arms": data.n_arms, "meta": data.meta})
    return comp, [Path(out) / f.name for f in figures]


def print_compare(comp, figures, out: Path) -> None:
    print(comp.markdown())
    if comp.verdict is not None:
        print(comp.verdict["statement"])
    print(f"per-subject table, parameters and figures in {out}/ ({', '.join(f.name for f in figures)})")
