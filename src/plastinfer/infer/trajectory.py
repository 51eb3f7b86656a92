r"""Trajectory inference: fit a rule by gradients through simulated trajectories.

Mehta et al. (2024), Eq. 4: for each recorded trajectory, simulate the model circuit
with the candidate rule ``g_θ`` on the same stimuli, and minimise

.. math::
    L(θ) = \frac{1}{T\,n}\sum_{t=1}^{T} \lVert o^{(t)} - m^{(t)} \rVert^2 + λ_1 \lVert θ \rVert_1

(mean squared error over time and the ``n`` recorded units, plus an optional L1 penalty
on Taylor coefficients) by backpropagation through time, with gradient clipping and
Adam (or any optax optimizer), over mini-batches of trajectories.

The model's initial weights are unknown in real data. ``init_weights`` chooses what the
fit does about them:

- ``"resample"`` (the paper's protocol): fresh draws from the circuit's initial-weight
  distribution for every mini-batch, independent of the data's;
- ``"latent"``: one initial weight matrix per training trajectory, fitted jointly with
  the rule (each with its own Adam state). Only rows of recorded units are constrained;
- ``"true"``: the data set's ground-truth initial weights (an oracle, for diagnosis).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ..errors import ConfigError, DatasetError
from .._checks import check_fields
from ..analysis._metrics import r2_score
from ..circuits import AbstractCircuit
from ..data import Dataset
from ..rules import AbstractRule, rule_from_spec
from ._engine import fit
from ._problem import AbstractProblem, check_finite_params, coefficient_vector, rule_l1, rule_params
from ._result import FitResult, result_from_engine
from ._strategies import LBFGS, Gradient, LevenbergMarquardt, make_optimizer

INIT_MODES = ("resample", "latent", "true")
SOLVERS = ("auto", "adam", "lbfgs", "lm")
#: ``solver="auto"`` picks Levenberg–Marquardt up to this many rule parameters
LM_MAX_PARAMS = 300


@dataclasses.dataclass(frozen=True)
class TrajectoryFitConfig:
    """Static settings of a trajectory fit (defaults: Mehta et al. 2024, A.3).

    ``solver="adam"`` (the paper's): mini-batches of ``batch_size`` trajectories, one
    epoch = one pass. ``solver="lbfgs"``: :func:`optax.lbfgs` with a zoom line search on
    the full-batch loss, one iteration per epoch; it needs a deterministic loss
    (``init_weights`` "latent" or "true") and copes with the ill-conditioned valleys that
    make Adam slow (see ``docs/mehta-fig2.md``). ``solver="lm"``: Levenberg–Marquardt
    (:class:`~plastinfer.infer.LevenbergMarquardt`), one damped Gauss–Newton iteration per
    epoch on all trajectories — the fastest and most exact for a few hundred rule
    parameters; no L1, no latent initial weights, and resampled ones are drawn once (a
    sample-average approximation). ``solver="auto"`` (default): ``"lm"`` when the initial
    weights are known (``"true"``), ``l1 = 0`` and the rule has at most
    :data:`LM_MAX_PARAMS` parameters, else ``"adam"`` (the paper's protocol). With
    ``"lm"`` the fit stops once five consecutive iterations improve the loss by
    less than ``1e-7`` of it.

    ``select_every``: epochs between scorings of the full training loss (on the validation
    set when one is given) that keep the best parameters; the start and the last epoch are
    always scored. Each scoring is a forward pass over all trajectories (≈ ⅓ of an Adam
    epoch in the Fig. 2 setting), hence every 10 epochs by default.
    """

    epochs: int = 100
    learning_rate: float = 1e-3
    l1: float = 0.0
    clip: float | None = 0.2
    batch_size: int = 1
    init_weights: str = "resample"
    latent_learning_rate: float = 1e-2
    latent_warmup: int = 50
    checkpoint: int | bool | None = True
    solver: str = "auto"
    optimizer: str = "adam"
    select_every: int = 10
    seed: int = 0

    def __post_init__(self):
        check_fields(self, "fit")
        if self.solver not in SOLVERS:
            raise ConfigError(f"fit: solver must be one of {list(SOLVERS)}, got {self.solver!r}")
        if self.solver == "lbfgs" and self.init_weights == "resample":
            raise ConfigError("fit: solver 'lbfgs' needs a deterministic loss: init_weights 'latent' or 'true'")
        if self.solver == "lm" and self.l1:
            raise ConfigError(f"fit: solver 'lm' fits sums of squares and cannot add an L1 penalty (l1 = {self.l1}); "
                              "use 'adam' or 'lbfgs'")
        if self.solver == "lm" and self.init_weights == "latent":
            raise ConfigError("fit: solver 'lm' forms a dense Jacobian and cannot fit latent initial weights (one "
                              "parameter per synapse and trajectory); use 'lbfgs'")
        if self.init_weights not in INIT_MODES:
            raise ConfigError(f"fit: init_weights must be one of {list(INIT_MODES)}, got {self.init_weights!r}")
        if self.epochs < 0 or self.batch_size < 1 or self.select_every < 1:
            raise ConfigError(f"fit: epochs ≥ 0, batch_size ≥ 1 and select_every ≥ 1 required (got {self.epochs}, "
                              f"{self.batch_size}, {self.select_every})")
        if self.learning_rate <= 0 or self.l1 < 0 or (self.clip is not None and self.clip < 0):
            raise ConfigError("fit: learning_rate must be positive, l1 and clip non-negative (clip 0: none)")
        if self.latent_learning_rate <= 0 or self.latent_warmup < 0:
            raise ConfigError("fit: latent_learning_rate must be positive and latent_warmup ≥ 0")
        if not isinstance(self.checkpoint, bool) and self.checkpoint is not None and self.checkpoint < 1:
            raise ConfigError(f"fit: checkpoint must be true, false or a number of steps ≥ 1, got {self.checkpoint}")
        make_optimizer(self.optimizer, self.learning_rate)

    def resolved_solver(self, rule_size: int) -> str:
        """The solver ``"auto"`` stands for, given the rule's number of parameters."""
        if self.solver != "auto":
            return self.solver
        small = rule_size <= LM_MAX_PARAMS
        return "lm" if self.init_weights == "true" and not self.l1 and small else "adam"


def _check_compatible(circuit, data: Dataset, what: str) -> None:
    n_in = getattr(circuit, "n_in", None)
    n_out = getattr(circuit, "n_out", None)
    if n_in is not None and data.n_in != n_in:
        raise DatasetError(f"{what}: stimuli have {data.n_in} inputs but the circuit has n_in={n_in}")
    if n_out is not None and data.n_out != n_out:
        raise DatasetError(f"{what}: data set has n_out={data.n_out} but the circuit has n_out={n_out}")


def truth_rule(data) -> AbstractRule | None:
    """The ground-truth rule recorded in a simulated data set's header (``data.meta["rule"]``;
    a :class:`Dataset` or a ``ChoiceDataset``), if it has one."""
    spec = data.meta.get("rule")
    if not spec:
        return None
    try:
        return rule_from_spec(spec)
    except (ConfigError, ValueError, TypeError):  # e.g. an MLP truth: no weights in the header
        return None


class Trajectories(eqx.Module):
    """Recorded trajectories as arrays: circuit ``inputs`` (a pytree, leading axes
    ``(n, T, ...)``), ``observed`` activity ``(n, T, ..., n_units)`` of the model outputs
    ``units``, and the true initial weights ``w0 (n, ...)`` when known."""

    inputs: PyTree
    observed: Array
    units: Array
    w0: Array | None = None

    @property
    def n(self) -> int:
        return int(self.observed.shape[0])

    @classmethod
    def from_dataset(cls, circuit: AbstractCircuit, data: Dataset) -> "Trajectories":
        rewards = None if data.rewards is None else jnp.asarray(data.rewards)
        inputs = jax.vmap(circuit.make_inputs)(jnp.asarray(data.stimuli), rewards)  # None: an empty pytree
        w0 = None if data.init_weights is None else jnp.asarray(data.init_weights)
        return cls(inputs, jnp.asarray(data.activity), jnp.asarray(data.units), w0)


class ActivityProblem(AbstractProblem):
    r"""Fit a rule so that a plastic circuit reproduces recorded activity (Mehta et al. 2024, Eq. 4):

    .. math:: L(θ) = \frac{1}{|B|}\sum_{b∈B} \frac{1}{T\,n}\sum_{t} \lVert o_b^{(t)} − m_b^{(t)}(θ) \rVert^2 + λ_1 \lVert θ \rVert_1

    over trajectories ``b`` of a mini-batch ``B``, the model :math:`m` being
    ``circuit.observe`` of the recorded units. Any circuit that implements
    ``init`` / ``state_from_weights`` / ``observe`` works (rate layers, lateral networks,
    a spiking neuron's binned rates). Parameters: ``{"rule": …}`` plus ``"w0"``
    ``(n, …)`` for latent initial weights. ``init_weights``: ``"resample"`` (fresh draws
    of ``circuit.init`` per batch), ``"latent"`` (fitted) or ``"true"`` (``data.w0``).

    :meth:`log_likelihood` is Gaussian per observed value, with standard deviation
    ``noise_std`` or, when that is ``None``, its maximum-likelihood value
    :math:`\hat σ^2 = \overline{(o − m)^2}` at the given parameters.
    """

    circuit: AbstractCircuit
    rule_static: Any
    data: Trajectories
    validation: Trajectories | None = None
    init_weights: str = eqx.field(static=True, default="resample")
    l1: float = eqx.field(static=True, default=0.0)
    checkpoint: int | bool | None = eqx.field(static=True, default=None)
    noise_std: float | None = eqx.field(static=True, default=None)
    freeze_rule: bool = eqx.field(static=True, default=False)
    start: Any = None

    def __check_init__(self):
        if self.init_weights not in INIT_MODES:
            raise ConfigError(f"fit: init_weights must be one of {list(INIT_MODES)}, got {self.init_weights!r}")
        if self.init_weights == "true" and self.data.w0 is None:
            raise DatasetError("fit: init_weights='true' needs a data set with ground-truth 'init_weights'")

    @property
    def n_items(self) -> int:
        return self.data.n

    @property
    def deterministic(self) -> bool:
        return self.init_weights != "resample"

    def rule(self, params) -> AbstractRule:
        r = params["rule"]
        if self.freeze_rule:
            r = jax.lax.stop_gradient(r)
        return eqx.combine(r, self.rule_static)

    def init(self, key):
        """``{"rule": start}`` plus, for latent initial weights, one draw of ``circuit.init`` per
        trajectory from ``key``."""
        if self.start is None:
            raise NotImplementedError("ActivityProblem was built without a start rule; pass params0 to fit or "
                                      "build params with initial_params(rule, key)")
        return self.initial_params(eqx.combine(self.start, self.rule_static), key)

    def initial_params(self, rule: AbstractRule, key: Array) -> dict:
        params = {"rule": rule_params(rule)[0]}
        if self.init_weights == "latent":
            states = jax.vmap(self.circuit.init)(jax.random.split(key, self.data.n))
            params["w0"] = self.circuit.weights(states)
        return params

    def _states(self, params, data: Trajectories, idx, key, mode: str):
        if mode == "latent":
            return jax.vmap(self.circuit.state_from_weights)(params["w0"][idx])
        if mode == "true":
            return jax.vmap(self.circuit.state_from_weights)(data.w0[idx])
        return jax.vmap(self.circuit.init)(jax.random.split(key, idx.shape[0]))

    def _sq_errors(self, params, data: Trajectories, idx, key, mode: str, sequential: bool = False) -> Array:
        """Squared errors ``(|idx|, T, ..., n_units)``; ``mode``: where initial weights come from."""
        return self._errors(params, data, idx, key, mode, sequential) ** 2

    def _errors(self, params, data: Trajectories, idx, key, mode: str, sequential: bool = False) -> Array:
        """Model minus recorded activity, ``(|idx|, T, ..., n_units)``."""
        rule = self.rule(params)
        states = self._states(params, data, idx, key, mode)
        take = lambda a: a[idx]  # noqa: E731
        inputs = jax.tree_util.tree_map(take, data.inputs)
        observed = data.observed[idx]

        def one(state, inp, obs):
            y, _ = self.circuit.observe(rule, state, inp, checkpoint=self.checkpoint)
            return y[..., data.units] - obs

        if idx.shape[0] == 1:  # the paper's one-trajectory updates: no vmap (batched dots are slow on CPU)
            first = lambda a: a[0]  # noqa: E731
            return one(jax.tree_util.tree_map(first, states), jax.tree_util.tree_map(first, inputs), observed[0])[None]
        if sequential:  # scoring every trajectory without gradients: one at a time is faster on a CPU
            return jax.lax.map(lambda a: one(*a), (states, inputs, observed))
        y, _ = self.circuit.observe_many(rule, states, inputs, checkpoint=self.checkpoint)
        return y[..., data.units] - observed

    def loss(self, params, batch, key):
        idx = jnp.arange(self.data.n) if batch is None else batch
        mse = jnp.mean(self._sq_errors(params, self.data, idx, key, self.init_weights))
        return mse + self.l1 * rule_l1(self.rule(params)), {"mse": mse}

    def residuals(self, params, key) -> Array:
        r"""``(m,)`` residuals :math:`(m_b^{(t)} − o_b^{(t)})/\sqrt{N}` over all trajectories, times and
        recorded units (``N`` of them), so that :math:`\sum r^2` is the loss without its L1
        term — what :class:`~plastinfer.infer.LevenbergMarquardt` fits. L1 is not a sum of
        squares: a problem with ``l1 > 0`` has no residuals."""
        if self.l1:
            raise ConfigError("fit: Levenberg–Marquardt fits sums of squares; it cannot add an L1 penalty "
                              f"(l1 = {self.l1}); use solver 'adam' or 'lbfgs'")
        err = self._errors(params, self.data, jnp.arange(self.data.n), key, self.init_weights).ravel()
        return err / jnp.sqrt(jnp.asarray(err.size, jnp.float32))

    def objective(self, params):
        mse = jnp.mean(self._sq_errors(params, self.data, jnp.arange(self.data.n), jax.random.PRNGKey(0),
                                       self.init_weights, sequential=jax.default_backend() == "cpu"))
        return mse + self.l1 * rule_l1(self.rule(params))

    @property
    def has_validation(self) -> bool:
        # latent initial weights: held-out trajectories need known ones to start from
        v = self.validation
        return v is not None and not (self.init_weights == "latent" and v.w0 is None)

    def validation_loss(self, params):
        if not self.has_validation:
            return None
        v = self.validation
        mode = "true" if v.w0 is not None else "resample"
        return jnp.mean(self._sq_errors(params, v, jnp.arange(v.n), jax.random.PRNGKey(1), mode,
                                        sequential=jax.default_backend() == "cpu"))

    def log_likelihood(self, params) -> Array:
        sq = self._sq_errors(params, self.data, jnp.arange(self.data.n), jax.random.PRNGKey(0), self.init_weights)
        var = jnp.mean(sq) if self.noise_std is None else jnp.asarray(self.noise_std, jnp.float32) ** 2
        return -0.5 * (jnp.log(2 * jnp.pi * var) + sq / var)

    def coefficients(self, params):
        return coefficient_vector(self.rule(params))


def evaluate(
    rule: AbstractRule,
    circuit: AbstractCircuit,
    data: Dataset,
    *,
    truth: AbstractRule | None = None,
    key: jax.Array | None = None,
) -> dict[str, float | None]:
    """Held-out metrics of ``rule`` on ``data`` (Mehta et al. 2024, §3.1).

    Model and ground truth start from the data set's initial weights (when it has them;
    otherwise from draws of the circuit's distribution) and see the same stimuli.

    - ``r2_activity``: R² between the recorded activity and the model's activity of the
      same units, per trajectory (samples = time steps, outputs = units), averaged;
    - ``r2_weights``: R² between ground-truth and model weight trajectories ``W(t)``
      (outputs = all synapses), per trajectory, averaged — only with ``truth`` and
      ground-truth initial weights;
    - ``mse_activity``: mean squared error on the recorded units.
    """
    _check_compatible(circuit, data, "evaluate")
    arr = Trajectories.from_dataset(circuit, data)
    has_w0 = data.init_weights is not None
    if has_w0:
        states = jax.vmap(circuit.state_from_weights)(arr.w0)
    else:
        key = jax.random.PRNGKey(0) if key is None else key
        states = jax.vmap(circuit.init)(jax.random.split(key, data.n_trajectories))
    with_weights = truth is not None and has_w0
    out = _evaluate_all(rule, truth if with_weights else None, circuit, arr, states)
    metrics: dict[str, float | None] = {k: float(jnp.mean(v)) for k, v in out.items()}
    metrics.setdefault("r2_weights", None)
    return metrics


@eqx.filter_jit
def _evaluate_all(rule, truth, circuit, a: Trajectories, states):
    def one(args):
        state, inputs, obs = args
        y, w = circuit.observe(rule, state, inputs, record_weights=truth is not None)
        y = y[..., a.units]
        flat = lambda v: v.reshape(-1, v.shape[-1])  # noqa: E731  (T·K, units)
        out = {"r2_activity": r2_score(flat(obs), flat(y)), "mse_activity": jnp.mean((obs - y) ** 2)}
        if truth is not None:
            _, w_true = circuit.observe(truth, state, inputs, record_weights=True)
            out["r2_weights"] = r2_score(w_true.reshape(w_true.shape[0], -1), w.reshape(w.shape[0], -1))
        return out

    return jax.lax.map(one, (states, a.inputs, a.observed))


def weight_error_over_time(rule, truth, circuit, state, inputs) -> jax.Array:
    """Mean squared difference between truth and model weights at each time step, ``(T,)``,
    from initial ``state`` on one trajectory's ``inputs``."""
    _, w_m = circuit.observe(rule, state, inputs, record_weights=True)
    _, w_t = circuit.observe(truth, state, inputs, record_weights=True)
    return jnp.mean((w_m - w_t) ** 2, axis=tuple(range(1, w_m.ndim)))


def activity_problem(rule: AbstractRule, circuit: AbstractCircuit, train: Dataset, *,
                     config: TrajectoryFitConfig = TrajectoryFitConfig(), validation: Dataset | None = None,
                     noise_std: float | None = None):
    """The :class:`ActivityProblem` :func:`fit_trajectory` fits, its starting parameters (latent
    initial weights drawn as in the fit) and the key the fit continues with:
    ``(problem, params0, key)``. ``noise_std``: the observation noise the likelihood assumes
    (``None``: its maximum-likelihood value)."""
    _check_compatible(circuit, train, "fit")
    if validation is not None:
        _check_compatible(circuit, validation, "fit (validation set)")
    cfg = config
    if cfg.init_weights == "true" and train.init_weights is None:
        raise DatasetError("fit: init_weights='true' needs a data set with ground-truth 'init_weights'")
    params_rule, static = rule_params(rule)
    check_finite_params(params_rule, "fit")
    data = Trajectories.from_dataset(circuit, train)
    val = Trajectories.from_dataset(circuit, validation) if validation is not None else None
    problem = ActivityProblem(circuit, static, data, val, cfg.init_weights, cfg.l1, cfg.checkpoint,
                              noise_std=noise_std, start=params_rule)
    key = jax.random.PRNGKey(cfg.seed)
    key, k_lat = jax.random.split(key)
    return problem, problem.initial_params(rule, k_lat), key


def fit_trajectory(
    rule: AbstractRule,
    circuit: AbstractCircuit,
    train: Dataset,
    *,
    config: TrajectoryFitConfig = TrajectoryFitConfig(),
    test: Dataset | None = None,
    validation: Dataset | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> FitResult:
    """Fit ``rule``'s parameters to ``train`` by gradients through whole trajectories.

    A thin wrapper: an :class:`ActivityProblem` fitted by the engine
    (:func:`plastinfer.infer.fit`) with :class:`Gradient` (``solver="adam"``: one epoch =
    one pass over the training trajectories in shuffled mini-batches of
    ``config.batch_size``, one jitted ``lax.scan``), :class:`LBFGS` or
    :class:`LevenbergMarquardt` (``solver="lm"``, or ``"auto"`` with known initial weights:
    one iteration per epoch, scored every epoch, stopping once converged). The optimizer is
    ``clip_by_global_norm(config.clip) → optax.<config.optimizer>(config.learning_rate)``.
    A diverging candidate's update is rejected (counted in ``history["diverged"]``).

    The returned rule is the best of the epochs on the full training loss (on
    ``validation`` when given) — never worse than ``rule``. ``checkpoint``: a file the
    fit keeps up to date; ``resume=True`` continues it (``config.epochs`` is the new
    total). After training, metrics on ``test`` (held-out trajectories) come from
    :func:`evaluate`. ``callback(epoch, info)`` is called after every epoch.
    """
    if test is not None:
        _check_compatible(circuit, test, "fit (test set)")
    cfg = config
    problem, params0, key = activity_problem(rule, circuit, train, config=cfg, validation=validation)
    data, static = problem.data, problem.rule_static
    k_lat = jax.random.split(jax.random.PRNGKey(cfg.seed))[1]

    resuming = resume and checkpoint is not None and os.path.exists(checkpoint)
    if cfg.init_weights == "latent" and cfg.latent_warmup > 0 and not resuming:
        # stage 1: fit the initial weights with the rule held at its starting value
        warm = ActivityProblem(circuit, static, data, None, "latent", 0.0, cfg.checkpoint, freeze_rule=True)
        params0 = fit(warm, LBFGS(), params0, steps=cfg.latent_warmup, key=k_lat, select="train",
                      progress="latent w0" if progress else False).params

    solver = cfg.resolved_solver(int(sum(np.size(a) for a in jax.tree_util.tree_leaves(params0["rule"]))))
    strategy = LBFGS() if solver == "lbfgs" else LevenbergMarquardt() if solver == "lm" else Gradient(
        cfg.optimizer, cfg.learning_rate, cfg.clip, cfg.batch_size,
        item_params=("w0",) if cfg.init_weights == "latent" else (), item_learning_rate=cfg.latent_learning_rate)
    truth = truth_rule(train)
    trace = {}
    probe = test if (test is not None and test.init_weights is not None) else train
    if truth is not None and probe.init_weights is not None:  # weight error over time on one trajectory (Fig. 2B)
        p_arr = Trajectories.from_dataset(circuit, probe)
        p_state = circuit.state_from_weights(p_arr.w0[0])
        p_inputs = jax.tree_util.tree_map(lambda a: a[0], p_arr.inputs)
        trace["weight_error"] = lambda p: weight_error_over_time(problem.rule(p), truth, circuit, p_state, p_inputs)
    callbacks = [] if callback is None else [lambda info: callback(info["step"], info)]
    lm = solver == "lm"
    res = fit(problem, strategy, params0, steps=cfg.epochs, key=key, eval_every=1 if lm else cfg.select_every,
              patience=5 if lm else None, min_improvement=1e-7 if lm else 0.0, callbacks=callbacks, trace=trace,
              checkpoint=checkpoint, resume=resume, progress="fit" if progress else False)
    fitted = problem.rule(res.params)
    result = result_from_engine(res, fitted, per_step="epoch", aliases={"mse": "mse"})
    if "mse" not in result.history and not cfg.l1:  # Levenberg–Marquardt logs the loss, which is the MSE here
        result.history["mse"] = result.history["loss"]
    result.metrics["solver"] = solver
    if test is not None:
        result.metrics.update({f"test_{k}": v for k, v in evaluate(fitted, circuit, test, truth=truth_rule(test)).items()})
    if cfg.init_weights == "latent":
        result.extras["latent_init"] = np.asarray(res.params["w0"])
    result.extras["problem"] = problem
    result.extras["params"] = res.params
    return result
