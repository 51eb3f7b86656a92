r"""The fitting engine: one loop under every method.

``fit(problem, strategy, params0, steps=…, key=…)`` runs ``steps`` strategy steps (an
epoch of mini-batch updates, one quasi-Newton iteration, one ES generation, one
adversarial round), ``chunk`` at a time inside one jitted :func:`jax.lax.scan`, and
between chunks on the host:

- scores the current parameters (``strategy.candidate(params, state)``: the iterate, or
  an estimate the strategy keeps beside it, such as a GAN generator's running average)
  on the problem's deterministic objective (its
  validation loss where it has one) and keeps the **best so far** — so the returned
  parameters are never worse than ``params0`` on that score (per group for grouped
  problems: one subject's bad step never costs another subject its best);
- applies **one divergence policy**: a step whose loss is non-finite or at least
  :data:`~plastinfer.infer.DIVERGED` is rejected by the strategy (parameters and
  optimizer state unchanged; evolution strategies score such a candidate as diverged),
  and the count is logged and printed;
- records **one history format** for every method (``loss`` and ``rejected`` per step,
  the strategy's own per-step diagnostics; ``step``, ``seconds`` and ``coefficients`` per
  chunk; ``eval_step``, ``objective``, ``best_loss`` and ``val_loss`` per evaluation);
- writes an atomic **checkpoint** (``.npz``, nothing pickled) that ``resume=True`` picks
  up: every step's key is ``fold_in(key, step)``, so a resumed run ends at the same
  parameters as an uninterrupted one;
- calls callbacks (returning ``True`` stops the fit), stops early after ``patience``
  evaluations without improvement, and shows a progress bar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ..errors import ConfigError, DatasetError
from .._io import atomic_write
from ._problem import DIVERGED, AbstractProblem
from ._strategies import AbstractStrategy

SELECT = ("auto", "train", "validation", "last")


@dataclasses.dataclass
class EngineResult:
    """What :func:`fit` returns.

    - ``params``: the best parameters (by ``select``; ``params0`` if nothing beat it);
    - ``last_params``: the parameters after the last step;
    - ``best_score``: their score (``(n_groups,)`` for grouped problems); ``best_step``;
    - ``history``: per step ``loss``, ``rejected`` and the strategy's diagnostics; per chunk
      (and at the start) ``step``, ``seconds``, ``coefficients`` and any ``trace``; per
      evaluation ``eval_step``, ``objective``, ``best_loss``, ``val_loss`` (when validated);
    - ``steps_run``, ``stopped`` (``"steps"``, ``"callback"`` or ``"patience"``),
      ``rejected`` (total rejected steps), ``seconds``, ``first_chunk_seconds``
      (compilation + first chunk), ``state`` (the strategy's final state);
    - ``warnings``: signs of a finite divergence (losses that grew by orders of magnitude,
      coefficients past a bound), also issued as :class:`RuntimeWarning`.
    """

    params: PyTree
    last_params: PyTree
    best_score: np.ndarray
    best_step: np.ndarray
    history: dict[str, np.ndarray]
    steps_run: int
    stopped: str
    rejected: int
    seconds: float
    first_chunk_seconds: float
    state: Any = None
    warnings: list = dataclasses.field(default_factory=list)


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`: the checkpoint was written first (resume with ``resume=True``)."""

    def __init__(self, step: int, checkpoint: Path):
        self.step, self.checkpoint = step, checkpoint
        super().__init__(f"interrupted at step {step}; checkpoint saved to {checkpoint} (continue with --resume)")


def _divergence(hist: dict[str, np.ndarray], growth: float, bound: float) -> list[str]:
    """Signs of a finite divergence in a history: losses grown ``growth``-fold, ``|θ| > bound``."""
    notes = []
    for key in ("loss", "objective"):
        v = np.asarray(hist.get(key, []), np.float64)
        if v.size < 2:
            continue
        v = v.reshape(v.shape[0], -1)
        first = np.abs(v[0])
        finite = np.where(np.isfinite(v), v, -np.inf)
        grown = np.max(finite, axis=0) > growth * np.maximum(first, 1e-12)
        if np.any(grown & (first > 0)):
            notes.append(f"the {key} grew more than {growth:g}-fold from its start (from {np.max(first):.3g} to "
                         f"{np.max(finite):.3g}): the step size is probably too large")
    coef = np.asarray(hist.get("coefficients", []), np.float64)
    if coef.size and np.nanmax(np.abs(coef)) > bound:
        notes.append(f"a coefficient reached |θ| = {np.nanmax(np.abs(coef)):.3g} > {bound:g}: the fit is diverging "
                     "or the rule is not identifiable from these data")
    return notes

@eqx.filter_jit
def _run_chunk(problem, strategy, params, state, key, step0, n: int):
    """``n`` strategy steps from ``step0`` in one ``lax.scan`` (step ``s`` uses ``fold_in(key, s)``);
    also returns the coefficients of the parameters reached (one dispatch per chunk)."""
    if n == 1:  # no loop: XLA's CPU backend runs some ops (dots, convolutions) slower in loop bodies
        params, state, info = strategy.step(problem, params, state, jax.random.fold_in(key, step0))
        infos = jax.tree_util.tree_map(lambda a: a[None], info)
    else:
        def body(carry, s):
            p, st = carry
            p, st, info = strategy.step(problem, p, st, jax.random.fold_in(key, s))
            return (p, st), info

        (params, state), infos = jax.lax.scan(body, (params, state), step0 + jnp.arange(n, dtype=jnp.int32))
    return params, state, infos, problem.coefficients(params)


@eqx.filter_jit
def _scores(problem, params, validated: bool):
    obj = problem.objective(params)
    val = problem.validation_loss(params) if validated else None
    return obj, val


@eqx.filter_jit
def _coefficients(problem, params):
    return problem.coefficients(params)


def _clean(score: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(score), score, np.inf)


def _select_tree(mask: np.ndarray, new: PyTree, old: PyTree, grouped: bool) -> PyTree:
    """``new`` where ``mask`` (per group along the leading axis when grouped) else ``old``."""
    if not grouped:
        return new if bool(mask) else old
    m = jnp.asarray(mask)

    def pick(a, b):
        return jnp.where(m.reshape(m.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(pick, new, old)


def fit(
    problem: AbstractProblem,
    strategy: AbstractStrategy,
    params0: PyTree | None = None,
    *,
    steps: int,
    key: jax.Array | None = None,
    chunk: int = 1,
    eval_every: int = 1,
    select: str = "auto",
    patience: int | None = None,
    callbacks: Sequence[Callable[[dict], bool | None]] = (),
    trace: dict[str, Callable[[PyTree], Any]] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    checkpoint_seconds: float | None = 60.0,
    resume: bool = False,
    progress: bool | str = True,
    warn_growth: float = 1e3,
    warn_bound: float = 1e4,
    min_improvement: float = 0.0,
) -> EngineResult:
    """Fit ``problem`` with ``strategy`` from ``params0`` for ``steps`` steps.

    - ``chunk``: steps per jitted ``lax.scan`` between host visits (callbacks, progress,
      coefficient trace); ``eval_every``: chunks between scorings of the objective for the
      best-so-far parameters (the start and the end are always scored; each scoring costs a
      forward pass over all items);
    - ``select``: which score keeps the best parameters — ``"auto"`` (validation loss if the
      problem has one, else the training objective), ``"train"``, ``"validation"`` or
      ``"last"`` (no selection: the last parameters);
    - ``patience``: stop after this many evaluations without improvement — an improvement
      (for stopping) is a score below ``best − min_improvement·|best|`` in some group; any
      lower score still replaces the best parameters;
    - ``callbacks``: each is called after every chunk with a dict (``step``, ``loss``,
      ``params`` — the iterate —, ``best_params`` — what the fit would return now —, and
      ``best_loss`` and ``objective`` when evaluated); a ``True`` return stops;
    - ``trace``: extra per-evaluation records, ``name -> f(params)`` (e.g. a weight error
      over time), kept in the history beside ``coefficients``;
    - ``checkpoint``: file written (atomically) every ``checkpoint_every`` evaluations, after
      any chunk that ends ``checkpoint_seconds`` after the last write, at the end, and on
      Ctrl-C (then :class:`FitInterrupted` is raised); with ``resume=True`` an existing
      checkpoint is continued — the same ``key`` then ends at the same parameters as an
      uninterrupted run. A checkpoint is refused when it was written for another problem,
      strategy or data (a hash of the problem's arrays), or when it is already past ``steps``;
    - ``progress``: a tqdm bar (``True``, or a string to name it);
    - ``warn_growth``, ``warn_bound``: a finite divergence — a step loss or objective above
      ``warn_growth`` × the start's, or a coefficient with ``|θ| > warn_bound`` — is warned
      about and listed in ``EngineResult.warnings``.
    """
    if steps < 0 or chunk < 1 or eval_every < 1 or checkpoint_every < 1:
        raise ConfigError("fit: steps ≥ 0, chunk ≥ 1, eval_every ≥ 1 and checkpoint_every ≥ 1 required")
    if checkpoint_seconds is not None and not checkpoint_seconds > 0:
        raise ConfigError(f"fit: checkpoint_seconds must be positive, got {checkpoint_seconds}")
    if select not in SELECT:
        raise ConfigError(f"fit: select must be one of {list(SELECT)}, got {select!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    k_init, k_state, k_steps = jax.random.split(key, 3)
    if params0 is None:
        params0 = problem.init(k_init)
    grouped = problem.n_groups > 0
    validated = problem.has_validation if select in ("auto", "validation") else False
    if select == "validation" and not validated:
        raise ConfigError("fit: select='validation' but the problem has no validation data")
    state = strategy.init(problem, params0, k_state)
    fingerprint = _fingerprint(problem, strategy, (params0, state))
    data_hash = _data_hash(problem) if checkpoint is not None else ""

    history: dict[str, list] = {}
    start = 0
    params = params0
    best_params = params0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    resumed = False
    n_chunk = since_improved = 0
    if resume and ckpt is not None and ckpt.exists():
        (params, state, best_params, best, best_step, start, history, n_chunk,
         since_improved) = _load_checkpoint(ckpt, (params0, state, params0), fingerprint, data_hash)
        if start > steps:
            raise ConfigError(f"{ckpt}: the checkpoint is at step {start}, beyond the {steps} steps asked for; "
                              "ask for at least as many to resume it")
        resumed = True
    t_start = time.perf_counter()
    elapsed0 = float(history["seconds"][-1]) if resumed and history.get("seconds") else 0.0

    traced = {k: jax.jit(f) for k, f in (trace or {}).items()}

    def record_row(step: int, p, coef=None) -> None:
        """Every chunk: the step, wall time, coefficients and extra traces (cheap)."""
        history.setdefault("step", []).append(step)
        history.setdefault("seconds", []).append(elapsed0 + time.perf_counter() - t_start)
        history.setdefault("coefficients", []).append(np.asarray(_coefficients(problem, p) if coef is None else coef))
        for k, f in traced.items():
            history.setdefault(k, []).append(np.asarray(f(p)))

    def score(p) -> tuple[np.ndarray, np.ndarray | None]:
        obj, val = _scores(problem, p, validated)
        return _clean(np.asarray(obj, np.float64)), None if val is None else _clean(np.asarray(val, np.float64))

    def record_score(step: int, obj, val) -> None:
        history.setdefault("eval_step", []).append(step)
        history.setdefault("objective", []).append(obj)
        if val is not None:
            history.setdefault("val_loss", []).append(val)
        history.setdefault("best_loss", []).append(np.asarray(best).copy())

    def consider(step: int, p) -> bool:
        """Score ``p``; keep it where it beats the best so far. Returns whether anything improved."""
        nonlocal best, best_params, best_step
        obj, val = score(p)
        sc = obj if val is None else val
        improved = np.ones(np.shape(sc), bool) if select == "last" else sc < best
        progressed = improved & (sc < best - min_improvement * np.abs(best))
        if np.any(improved):
            best_params = _select_tree(improved, p, best_params, grouped)
            best = np.where(improved, sc, best)
            best_step = np.where(improved, step, best_step)
        record_score(step, obj, val)
        return bool(np.any(progressed))

    if not resumed:
        record_row(0, params0)
        obj, val = score(params0)
        best = val if val is not None else obj
        best_step = np.zeros(np.shape(best), np.int64)
        record_score(0, obj, val)

    def save() -> None:
        nonlocal last_save
        p, st, at = current  # one consistent (parameters, state, step) triple
        _save_checkpoint(ckpt, (p, st, best_params), best, best_step, at, history, fingerprint,
                         data_hash, n_chunk, since_improved)
        last_save = time.perf_counter()

    bar = _bar(progress, steps, start)
    stopped = "steps"
    first_chunk = None
    step = start
    current = (params, state, step)
    last_save = time.perf_counter()
    try:
        while step < steps:
            n = min(chunk, steps - step)
            t_c = time.perf_counter()
            p_new, s_new, infos, coef = _run_chunk(problem, strategy, params, state, k_steps,
                                                   jnp.asarray(step, jnp.int32), n)
            infos, coef = jax.device_get((infos, coef))  # one transfer
            current = (p_new, s_new, step + n)  # a single store: Ctrl-C sees the old triple or the new one
            params, state, step = current
            if first_chunk is None:
                first_chunk = time.perf_counter() - t_c
            n_chunk += 1
            for k, v in infos.items():
                history.setdefault(k, []).extend(list(v))
            record_row(step, params, coef)
            info: dict[str, Any] = {"step": step, "loss": float(np.mean(infos["loss"][-1])), "params": params}
            if n_chunk % eval_every == 0 or step >= steps:
                since_improved = 0 if consider(step, strategy.candidate(params, state)) else since_improved + 1
                info.update(objective=history["objective"][-1], best_loss=best)
                if ckpt is not None and (len(history["eval_step"]) % checkpoint_every == 0 or step >= steps):
                    save()
            if ckpt is not None and checkpoint_seconds is not None and \
                    time.perf_counter() - last_save >= checkpoint_seconds and last_save < t_c:
                save()
            info["best_params"] = best_params  # what the fit would return if it stopped now
            if bar is not None:
                bar.update(n)
                rej = int(np.sum(history.get("rejected", [0])))
                post = {"loss": f"{np.mean(infos['loss'][-1]):.4g}", "best": f"{np.mean(best):.4g}"}
                if rej:
                    post["rejected"] = rej
                bar.set_postfix(post)
            if any(cb(info) for cb in callbacks):
                stopped = "callback"
                break
            if patience is not None and since_improved >= patience:
                stopped = "patience"
                break
    except (KeyboardInterrupt, SystemError) as e:
        # a Ctrl-C that lands inside a C call (e.g. numpy's dtype lookup) surfaces as a
        # SystemError caused by the KeyboardInterrupt: treat it as the interrupt it is
        if ckpt is None or (isinstance(e, SystemError) and not isinstance(e.__cause__, KeyboardInterrupt)):
            raise
        save()  # params and state are those of the last completed chunk
        raise FitInterrupted(step, ckpt) from None
    finally:
        if bar is not None:
            bar.close()
    if history["eval_step"][-1] != step:  # stopped early between evaluations
        consider(step, strategy.candidate(params, state))
        if ckpt is not None:
            save()

    hist = {k: np.asarray(v) for k, v in history.items()}
    rejected = int(np.sum(hist["rejected"])) if "rejected" in hist else 0
    if rejected:
        warnings.warn(f"fit: {rejected} step(s) were rejected (non-finite or ≥ {DIVERGED:g} loss: the candidate "
                      "diverged); parameters and optimizer state were kept", RuntimeWarning, stacklevel=3)
    notes = _divergence(hist, warn_growth, warn_bound)
    for note in notes:
        warnings.warn(f"fit: {note}", RuntimeWarning, stacklevel=3)
    return EngineResult(
        params=best_params if select != "last" else strategy.candidate(params, state),
        last_params=params,
        best_score=np.asarray(best),
        best_step=np.asarray(best_step),
        history=hist,
        steps_run=step,
        stopped=stopped,
        rejected=rejected,
        seconds=elapsed0 + time.perf_counter() - t_start,
        first_chunk_seconds=first_chunk or 0.0,
        state=state,
        warnings=notes,
    )


def _bar(progress, total, initial):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=progress if isinstance(progress, str) else "fit",
                unit="step", leave=False)


# ----------------------------------------------------------------------------- checkpoints
def _fingerprint(problem, strategy, trees) -> str:
    """What a checkpoint must match: the problem's and strategy's types and the trees' structure."""
    return f"{type(problem).__name__}|{type(strategy).__name__}|{jax.tree_util.tree_structure(trees)}"


def _data_hash(problem) -> str:
    """SHA-256 of the problem's arrays (data, start, settings held as arrays): a checkpoint is
    only resumed on the same data."""
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(eqx.filter(problem, eqx.is_array)):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _save_checkpoint(path: Path, trees, best, best_step, step, history, fingerprint: str, data_hash: str = "",
                     n_chunk: int = 0, since_improved: int = 0) -> None:
    leaves = jax.tree_util.tree_leaves(trees)
    arrays = {f"leaf_{i:05d}": np.asarray(v) for i, v in enumerate(leaves)}
    for tree in (trees[0], trees[2]):  # parameters and best parameters (a strategy's state may hold inf)
        if not all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree_util.tree_leaves(tree)
                   if np.asarray(a).dtype.kind == "f"):
            raise FloatingPointError(f"{path}: refusing to write non-finite parameters into a checkpoint")
    arrays["fingerprint"] = np.frombuffer(fingerprint.encode(), np.uint8)
    arrays["data_hash"] = np.frombuffer(data_hash.encode(), np.uint8)
    arrays["counters"] = np.asarray([n_chunk, since_improved], np.int64)
    arrays["best"] = np.asarray(best)
    arrays["best_step"] = np.asarray(best_step)
    arrays["step"] = np.asarray(step)
    for k, v in history.items():
        arrays[f"history_{k}"] = np.asarray(v)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _load_checkpoint(path: Path, template, fingerprint: str, data_hash: str = ""):
    """Restore ``(params, state, best_params)`` into ``template``'s structure; refuse a
    checkpoint whose arrays do not match (a changed config or problem) or that was written
    for other data."""
    try:
        return _read_checkpoint(path, template, fingerprint, data_hash)
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 — a damaged file: any failure to parse it
        raise DatasetError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None


def _read_checkpoint(path: Path, template, fingerprint: str, data_hash: str):
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: not a checkpoint (a single array, not an .npz archive)")
    with npz:
        text = lambda k: npz[k].tobytes().decode() if k in npz.files else None  # noqa: E731
        saved_fp = text("fingerprint")
        if saved_fp != fingerprint:
            kind = "/".join(saved_fp.split("|")[:2]) if saved_fp else "unknown"
            this = "/".join(fingerprint.split("|")[:2])
            if kind == this:
                raise DatasetError(f"{path}: this checkpoint was written by another {kind} fit with other settings (its "
                                   "parameters are shaped differently: another model or config?)")
            raise DatasetError(f"{path}: this checkpoint belongs to another kind of fit ({kind}), not this {this}")
        if data_hash and text("data_hash") != data_hash:
            raise DatasetError(f"{path}: this checkpoint was written for other data or another start (the data "
                               "hash differs); resume with the data and config it was made with")
        leaves, treedef = jax.tree_util.tree_flatten(template)
        saved = sorted(k for k in npz.files if k.startswith("leaf_"))
        if len(saved) != len(leaves):
            raise DatasetError(f"{path}: checkpoint holds {len(saved)} arrays but this fit needs {len(leaves)} "
                               "(a different problem, strategy or config?)")
        new = []
        for name, leaf in zip(saved, leaves):
            a = npz[name]
            if a.shape != np.shape(leaf):
                raise DatasetError(f"{path}: checkpoint array {name} has shape {a.shape}, this fit needs "
                                   f"{np.shape(leaf)} (a different problem, strategy or config?)")
            new.append(jnp.asarray(a, dtype=jnp.asarray(leaf).dtype))
        params, state, best_params = jax.tree_util.tree_unflatten(treedef, new)
        history = {k.removeprefix("history_"): list(npz[k]) for k in npz.files if k.startswith("history_")}
        counters = npz["counters"] if "counters" in npz.files else np.zeros(2, np.int64)
        return (params, state, best_params, npz["best"], npz["best_step"], int(npz["step"]), history,
                int(counters[0]), int(counters[1]))
