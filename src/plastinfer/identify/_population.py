"""Populations of trained networks ("virtual experiments", Nayebi et al. 2020 §3) and their
observables, generated as a resumable sweep.

A :class:`PopulationSpec` is the factorial design: rules × architectures × tasks × batch
sizes × model seeds × data-order seeds (convolutional architectures only on image and
sequence tasks). Runs that differ only in their seeds are trained together in one
``vmap`` (a *group*); each finished group is written at once to ``DIR/runs/<group>.npz``
(atomically), so an interrupted sweep resumes where it stopped and never retrains a
finished group. Groups run in parallel worker processes, or on a Ray cluster when an
address is given (``pip install plastinfer[ray]``).

:func:`load_population` gathers the runs into one tidy table: one row per (network,
layer) with the factors as columns, the feature trajectories ``(rows, checkpoints,
features)`` and each network's validation performance per checkpoint.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetError
from ._learners import ARCHITECTURES, RULES, LearnerConfig
from ._observables import feature_names
from ._tasks import TASKS

_CONV_TASKS = ("digits", "digits_contrastive", "mnist1d")
FACTORS = ("rule", "arch", "task", "batch_size", "model_seed", "data_seed")


@dataclasses.dataclass(frozen=True)
class Measurement:
    """How the observables are recorded (Nayebi et al. §6, B.4): additive white Gaussian
    noise of standard deviation ``noise_std`` on every measured element (weights,
    activations, Jacobian entries), a random ``ceil(unit_frac · n)`` of the units, and the
    ``seed`` that picks both (the paper uses one seed for the two)."""

    noise_std: float = 0.0
    unit_frac: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not (np.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ConfigError(f"measurement: noise_std must be finite and ≥ 0, not {self.noise_std}")
        if not (0 < self.unit_frac <= 1):
            raise ConfigError(f"measurement: unit_frac must be in (0, 1], not {self.unit_frac}")


@dataclasses.dataclass(frozen=True)
class PopulationSpec:
    """The factorial design of a population (see the module docstring).

    ``measurements``: extra recordings of every network under measurement noise and unit
    subsampling (:class:`Measurement`), stored beside the perfect recording and read with
    ``load_population(dir, measurement=m)``."""

    rules: tuple[str, ...] = RULES
    archs: tuple[str, ...] = ("mlp1x64", "mlp2x32", "mlp3x32", "cnn2")
    tasks: tuple[str, ...] = ("digits", "breast_cancer", "mnist1d", "digits_contrastive", "teacher_student")
    batch_sizes: tuple[int, ...] = (16, 32, 64)
    model_seeds: tuple[int, ...] = (0, 1)
    data_seeds: tuple[int, ...] = (0, 1)
    steps: int = 600
    n_checkpoints: int = 21
    n_val: int = 256
    measurements: tuple[Measurement, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "measurements", tuple(m if isinstance(m, Measurement) else Measurement(**m)
                                                      for m in self.measurements))
        if len(set(self.measurements)) != len(self.measurements):
            raise ConfigError("population: the same measurement is listed twice")
        for name, values, allowed in (("rules", self.rules, RULES), ("archs", self.archs, tuple(ARCHITECTURES)),
                                      ("tasks", self.tasks, TASKS)):
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise ConfigError(f"population: unknown or no {name} {bad}; choose from {list(allowed)}")

    def configs(self) -> list[LearnerConfig]:
        out = []
        for rule, arch, task, bs, ms, ds in itertools.product(self.rules, self.archs, self.tasks, self.batch_sizes,
                                                              self.model_seeds, self.data_seeds):
            if ARCHITECTURES[arch][0] == "cnn" and task not in _CONV_TASKS:
                continue
            out.append(LearnerConfig(rule, arch, task, bs, ms, ds, steps=self.steps, n_checkpoints=self.n_checkpoints))
        return out

    def groups(self) -> dict[str, list[LearnerConfig]]:
        """Configs that train in one compiled ``vmap`` (same architecture and task; all
        rules, batch sizes and seeds), keyed by ``arch-task``."""
        out: dict[str, list[LearnerConfig]] = {}
        for c in self.configs():
            out.setdefault(f"{c.arch}-{c.task}", []).append(c)
        return out

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        if not self.measurements:  # folders written before measurements existed keep their digest
            out.pop("measurements")
        return out


def _network_id(c: LearnerConfig) -> int:
    """A stable 31-bit id of one network (its factors), to key its measurement noise."""
    text = json.dumps([getattr(c, f) for f in FACTORS])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def _measured(layers, checkpoints, x_val, use_b, measurements: tuple[Measurement, ...], network: int) -> np.ndarray:
    """``(n_measurements, n_checkpoints, n_layers, n_features)``: one compile per unit
    fraction, the noise levels and seeds of that fraction ``vmap``-ped. Each measurement's
    key is its seed folded with the ``network`` id: every network (animal) gets its own
    noise and its own recorded units — one shared draw would add the same offset to every
    network, which a classifier simply ignores."""
    import jax

    from ._observables import observables_grid

    out: list = [None] * len(measurements)
    for frac in sorted({m.unit_frac for m in measurements}):
        idx = [i for i, m in enumerate(measurements) if m.unit_frac == frac]
        noise = np.array([measurements[i].noise_std for i in idx], np.float32)
        keys = jax.numpy.stack([jax.random.fold_in(jax.random.PRNGKey(measurements[i].seed), network) for i in idx])
        feats = np.asarray(observables_grid(layers, checkpoints, x_val, noise, keys, path=use_b, unit_frac=frac))
        for j, i in enumerate(idx):
            out[i] = feats[j]
    return np.stack(out)


def _run_group(configs: list[LearnerConfig], n_val: int,
               measurements: tuple[Measurement, ...] = ()) -> dict[str, np.ndarray]:
    """Train one group and compute its observables: arrays for ``runs/<group>.npz``."""
    import jax.numpy as jnp

    from ._learners import layers_for, train_runs
    from ._observables import network_observables
    from ._tasks import load_task

    t0 = time.perf_counter()
    task = load_task(configs[0].task)
    layers = layers_for(configs[0].arch, task.input_shape, task.n_out)
    x_val = jnp.asarray(task.x_val[:n_val])
    feats, perfs, measured = [], [], []
    for c, (checkpoints, perf) in zip(configs, train_runs(configs)):
        use_b = jnp.asarray(c.rule in ("fa", "ia"))
        feats.append(np.asarray(network_observables(layers, checkpoints, x_val, path=use_b)))
        perfs.append(perf)
        if measurements:
            measured.append(_measured(layers, checkpoints, x_val, use_b, measurements, _network_id(c)))
    out = {"features": np.stack(feats).astype(np.float32), "performance": np.stack(perfs).astype(np.float32),
           "positions": np.array([layer.position for layer in layers])}
    if measurements:  # (n_measurements, runs, checkpoints, layers, features)
        out["measured"] = np.stack(measured, axis=1).astype(np.float32)
    for f in FACTORS:
        out[f] = np.array([getattr(c, f) for c in configs])
    out["seconds"] = np.array(time.perf_counter() - t0)  # this group's training + observables, wall time
    return out


def _write_atomic(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _spec_digest(spec: PopulationSpec) -> str:
    return hashlib.sha256(json.dumps(spec.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def generate_population(spec: PopulationSpec, out_dir: str | os.PathLike, *, workers: int = 1,
                        ray_address: str | None = None, progress: bool = True,
                        on_group: Callable[[str], None] | None = None) -> Path:
    """Train every group of ``spec`` that ``out_dir`` does not hold yet and write its runs.

    ``workers > 1`` trains groups in that many processes (each with single-threaded XLA);
    ``ray_address`` sends them to a Ray cluster instead. A folder written for another spec
    is refused (``ConfigError``) rather than mixed. Returns ``out_dir``.
    """
    out = Path(out_dir)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    spec_file = out / "spec.json"
    digest = _spec_digest(spec)
    if spec_file.exists():
        old = json.loads(spec_file.read_text())
        if old.get("digest") != digest:
            raise ConfigError(f"{out} holds a population of another design (spec.json); use a new folder")
    else:
        spec_file.write_text(json.dumps({"spec": spec.to_json(), "digest": digest,
                                         "features": feature_names()}, indent=1))
    groups = spec.groups()
    todo = {g: c for g, c in groups.items() if not (runs / f"{g}.npz").exists()}
    if progress:
        print(f"[population] {len(groups)} groups ({sum(len(c) for c in groups.values())} networks); "
              f"{len(groups) - len(todo)} already done, {len(todo)} to train")
    t0 = time.perf_counter()

    def done(g, arrays, i):
        _write_atomic(runs / f"{g}.npz", arrays)
        if progress:
            el = time.perf_counter() - t0
            print(f"[population] {i}/{len(todo)} {g}  ({el:.0f} s elapsed)", flush=True)
        if on_group is not None:
            on_group(g)

    if ray_address is not None:
        try:
            import ray
        except ImportError as e:
            raise ConfigError("--ray needs Ray: pip install 'plastinfer[ray]'") from e
        ray.init(address=ray_address, ignore_reinit_error=True)
        remote = ray.remote(_run_group)
        pending = {remote.remote(c, spec.n_val, spec.measurements): g for g, c in todo.items()}
        i = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i += 1
            done(pending.pop(ready[0]), ray.get(ready[0]), i)
    elif workers > 1 and len(todo) > 1:
        old = os.environ.get("XLA_FLAGS")
        os.environ["XLA_FLAGS"] = ((old or "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
        try:
            with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_run_group, c, spec.n_val, spec.measurements): g for g, c in todo.items()}
                for i, fut in enumerate(cf.as_completed(futures), 1):
                    done(futures[fut], fut.result(), i)
        finally:
            if old is None:
                os.environ.pop("XLA_FLAGS", None)
            else:
                os.environ["XLA_FLAGS"] = old
    else:
        for i, (g, c) in enumerate(todo.items(), 1):
            done(g, _run_group(c, spec.n_val, spec.measurements), i)
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Population:
    """One row per (network, layer). ``features``: ``(rows, checkpoints, n_features)``;
    ``feature_names``; ``factors``: column name → ``(rows,)`` array (the :data:`FACTORS`,
    ``layer``, ``position`` and ``network``, an id shared by a network's layers);
    ``performance``: ``(rows, checkpoints, 2)`` validation loss and accuracy of the row's
    network."""

    features: np.ndarray
    feature_names: list[str]
    factors: dict[str, np.ndarray]
    performance: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write the table as one tidy ``.npz`` (``features``, ``performance``,
        ``feature_names`` and a ``factor_<name>`` column per factor; plain arrays, nothing
        pickled), read back by :func:`load_population`. An existing file is kept unless
        ``force``; the write is atomic."""
        from .._io import atomic_write

        path = Path(path)
        if path.suffix != ".npz":
            raise ConfigError(f"{path}: a population table is saved as .npz")
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass force=True to overwrite it")
        arrays = {"features": self.features, "performance": self.performance,
                  "feature_names": np.array(self.feature_names)}
        arrays.update({f"factor_{k}": np.asarray(v) for k, v in self.factors.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
        return path

    def finite_features(self) -> np.ndarray:
        """Mask of features finite for every row and checkpoint (the paper drops a statistic
        that diverges anywhere)."""
        return np.all(np.isfinite(self.features), axis=(0, 1))


def _load_table(path: Path) -> Population:
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable ({e})") from e
    missing = [k for k in ("features", "performance", "feature_names") if k not in a]
    if missing:
        raise DatasetError(f"{path}: not a saved population table (missing {', '.join(missing)})")
    feats, names = a["features"], [str(n) for n in a["feature_names"]]
    factors = {k.removeprefix("factor_"): v for k, v in a.items() if k.startswith("factor_")}
    if feats.ndim != 3 or feats.shape[2] != len(names) or a["performance"].shape[:2] != feats.shape[:2]:
        raise DatasetError(f"{path}: features {feats.shape}, performance {a['performance'].shape} and "
                           f"{len(names)} feature names disagree")
    bad = [k for k, v in factors.items() if v.shape != (feats.shape[0],)]
    if bad or "rule" not in factors or "network" not in factors or "position" not in factors:
        raise DatasetError(f"{path}: factor columns must include rule, network and position, one value per row")
    return Population(feats, names, factors, a["performance"])


def load_population(out_dir: str | os.PathLike, measurement: Measurement | None = None) -> Population:
    """Gather ``out_dir/runs/*.npz`` into a :class:`Population` (plain arrays; nothing is
    unpickled): the perfect recording, or the one under ``measurement`` (one of the spec's
    :attr:`PopulationSpec.measurements`). ``out_dir`` may also be a table written by
    :meth:`Population.save`."""
    out = Path(out_dir)
    if out.is_file():
        if measurement is not None:
            raise ConfigError(f"{out}: a saved table holds one recording; load the population folder for others")
        return _load_table(out)
    spec_file = out / "spec.json"
    if not spec_file.exists():
        raise DatasetError(f"{out} is not a population folder (no spec.json) or a saved table (.npz)")
    meta = json.loads(spec_file.read_text())
    names = meta["features"]
    m_index = None
    if measurement is not None:
        listed = [Measurement(**m) for m in meta["spec"].get("measurements", [])]
        if measurement not in listed:
            raise ConfigError(f"{out}: {measurement} was not recorded; its spec lists {len(listed)} measurements")
        m_index = listed.index(measurement)
    files = sorted((out / "runs").glob("*.npz"))
    if not files:
        raise DatasetError(f"{out}/runs holds no finished groups")
    feats, perf, cols = [], [], {k: [] for k in FACTORS + ("layer", "position", "network")}
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise DatasetError(f"{f}: unreadable ({e})") from e
        missing = [k for k in ("features", "performance", "positions") + FACTORS + (("measured",) if m_index is not None else ())
                   if k not in a]
        if missing:
            raise DatasetError(f"{f}: not a population group file (missing {', '.join(missing)})")
        if m_index is not None:
            a["features"] = a["measured"][m_index]
        n_runs, n_ck, n_layers, n_feat = a["features"].shape
        if n_feat != len(names):
            raise DatasetError(f"{f}: {n_feat} features, spec.json names {len(names)}")
        for r in range(n_runs):
            for layer in range(n_layers):
                feats.append(a["features"][r, :, layer])
                perf.append(a["performance"][r])
                for k in FACTORS:
                    cols[k].append(a[k][r])
                cols["layer"].append(layer)
                cols["position"].append(a["positions"][layer])
                cols["network"].append(f"{a['rule'][r]}-{f.stem}-b{a['batch_size'][r]}-m{a['model_seed'][r]}"
                                       f"-d{a['data_seed'][r]}")
    return Population(np.stack(feats), names, {k: np.asarray(v) for k, v in cols.items()}, np.stack(perf))
