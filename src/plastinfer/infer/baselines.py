r"""Choice models for bandit tasks: the reinforcement-learning baselines labs fit, and the
plasticity model, behind one interface so one Problem (:class:`~plastinfer.infer.bandit.BanditProblem`)
fits, scores and compares them all.

A model is an equinox module: its inexact arrays are the learned parameters (stored in an
unconstrained form; :meth:`AbstractChoiceModel.describe` gives them readable), the rest is
static. On every trial with a choice :math:`c_t` and reward :math:`r_t`:

.. math:: P(c_t = a) = \mathrm{softmax}_a\big(\ell_a(s_t)\big), \qquad s_{t+1} = \mathrm{update}(s_t, c_t, r_t),

with :meth:`~AbstractChoiceModel.logits` :math:`\ell` and the state :math:`s` explicit. Ignored
trials leave the state as it is; sessions start from :meth:`~AbstractChoiceModel.init_state`
or carry the state (the Problem decides).

Models (``n_arms`` options; the side bias :math:`b_a` has :math:`b_0 = 0`; the choice kernel
:math:`K ← K + τ(e_{c_t} − K)` adds :math:`κ K_a`):

- :class:`QLearning` (Rescorla–Wagner): :math:`Q_{c} ← Q_{c} + α(r − Q_{c})`; with forgetting
  the unchosen values decay, :math:`Q_a ← (1 − φ) Q_a`; :math:`\ell_a = β Q_a + b_a + κ K_a`;
- :class:`WinStayLoseShift`: stay with probability :math:`p_{ws}` after a reward (:math:`r > 0`),
  shift (uniformly to another arm) with probability :math:`p_{ls}` after none;
- :class:`LogisticHistory` (Lau & Glimcher 2005): :math:`\ell_a = b_a + \sum_{k=1}^{n}
  β^R_k\, r_{t-k}[c_{t-k} = a] + β^C_k\,[c_{t-k} = a]`, the reward and choice kernels;
- :class:`ConstantBias`: :math:`\ell_a = b_a` (the null: the best constant choice probabilities);
- :class:`PlasticityModel`: the :class:`~plastinfer.circuits.BanditCircuit`'s action values
  learned by a plasticity rule, :math:`\ell_a = w_a + b_a + κ K_a`.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ..circuits import BanditCircuit, BanditInput
from ..errors import ConfigError
from ..rules import AbstractRule


def _unit(raw: Array) -> Array:
    return jax.nn.sigmoid(raw)


def _logit(p: float) -> Array:
    return jnp.asarray(np.log(p / (1 - p)), jnp.float32)


class Readout(eqx.Module):
    """Side bias and choice kernel shared by the value models: ``bias`` ``(n_arms − 1,)`` (arm 0
    is the reference), ``kappa`` the kernel weight, ``kernel_raw`` its rate τ = σ(raw); each
    ``None`` when the model leaves it out."""

    bias: Array | None = None
    kappa: Array | None = None
    kernel_raw: Array | None = None

    @classmethod
    def make(cls, n_arms: int, side_bias: bool, choice_kernel: bool) -> "Readout":
        return cls(jnp.zeros((n_arms - 1,), jnp.float32) if side_bias else None,
                   jnp.zeros((), jnp.float32) if choice_kernel else None,
                   _logit(0.5) if choice_kernel else None)

    def offsets(self, n_arms: int, kernel: Array) -> Array:
        out = jnp.zeros((n_arms,), jnp.float32)
        if self.bias is not None:
            out = out.at[1:].add(self.bias)
        if self.kappa is not None:
            out = out + self.kappa * kernel
        return out

    def update_kernel(self, kernel: Array, choice: Array, n_arms: int) -> Array:
        if self.kappa is None:
            return kernel
        tau = _unit(self.kernel_raw)
        return kernel + tau * (jax.nn.one_hot(choice, n_arms) - kernel)

    def describe(self) -> dict[str, float]:
        out = {}
        if self.bias is not None:
            out.update({f"bias[{a + 1}]": float(b) for a, b in enumerate(np.asarray(self.bias).ravel())})
        if self.kappa is not None:
            out["kappa"] = float(self.kappa)
            out["kernel_rate"] = float(_unit(self.kernel_raw))
        return out


class AbstractChoiceModel(eqx.Module):
    """What every bandit choice model provides (see the module docstring)."""

    n_arms: eqx.AbstractVar[int]

    @abc.abstractmethod
    def init_state(self) -> PyTree:
        """The state at the start of a session."""

    @abc.abstractmethod
    def logits(self, state: PyTree) -> Array:
        """``(n_arms,)`` log-odds of the choice on this trial."""

    @abc.abstractmethod
    def update(self, state: PyTree, choice: Array, reward: Array) -> PyTree:
        """The state after a trial with ``choice`` (int) and ``reward`` (float)."""

    @abc.abstractmethod
    def describe(self) -> dict[str, float]:
        """The learned parameters, readable (rates in (0, 1), …)."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def perturb(self, key: Array) -> "AbstractChoiceModel":
        """Another start for a multi-start fit: every learned array plus N(0, 1) noise (in the
        unconstrained form: rates move on the logit scale)."""
        params, static = eqx.partition(self, eqx.is_inexact_array)
        leaves, tree = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(key, max(len(leaves), 1))
        leaves = [a + jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)]
        return eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)

    def n_free(self) -> int:
        """Free parameters (what AIC / BIC count)."""
        return int(sum(np.size(a) for a in jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_inexact_array))))


class QLearning(AbstractChoiceModel):
    """Q-learning / Rescorla–Wagner with optional side bias, forgetting and choice kernel."""

    n_arms: int = eqx.field(static=True)
    alpha_raw: Array
    beta: Array
    forget_raw: Array | None
    readout: Readout
    q0: float = eqx.field(static=True, default=0.0)

    @classmethod
    def make(cls, n_arms: int = 2, *, side_bias: bool = False, forgetting: bool = False, choice_kernel: bool = False,
             alpha: float = 0.3, beta: float = 3.0, q0: float = 0.0) -> "QLearning":
        if not 0 < alpha < 1:
            raise ConfigError(f"QLearning: alpha must lie in (0, 1), got {alpha}")
        return cls(n_arms, _logit(alpha), jnp.asarray(beta, jnp.float32), _logit(0.1) if forgetting else None,
                   Readout.make(n_arms, side_bias, choice_kernel), q0)

    @property
    def name(self) -> str:
        parts = ["q_learning"] + [n for n, on in (("bias", self.readout.bias is not None),
                                                  ("forget", self.forget_raw is not None),
                                                  ("kernel", self.readout.kappa is not None)) if on]
        return "_".join(parts)

    def init_state(self):
        return (jnp.full((self.n_arms,), self.q0, jnp.float32), jnp.zeros((self.n_arms,), jnp.float32))

    def logits(self, state):
        q, k = state
        return self.beta * q + self.readout.offsets(self.n_arms, k)

    def update(self, state, choice, reward):
        q, k = state
        chosen = jax.nn.one_hot(choice, self.n_arms)
        alpha = _unit(self.alpha_raw)
        q_new = q + chosen * alpha * (reward - q)
        if self.forget_raw is not None:
            q_new = q_new - (1 - chosen) * _unit(self.forget_raw) * q
        return (q_new, self.readout.update_kernel(k, choice, self.n_arms))

    def describe(self):
        out = {"alpha": float(_unit(self.alpha_raw)), "beta": float(self.beta)}
        if self.forget_raw is not None:
            out["forget"] = float(_unit(self.forget_raw))
        return {**out, **self.readout.describe()}


class WinStayLoseShift(AbstractChoiceModel):
    """Win-stay (probability ``p_ws``) / lose-shift (``p_ls``); the first trial of a session is
    uniform."""

    n_arms: int = eqx.field(static=True)
    ws_raw: Array
    ls_raw: Array

    @classmethod
    def make(cls, n_arms: int = 2, *, win_stay: float = 0.7, lose_shift: float = 0.5) -> "WinStayLoseShift":
        return cls(n_arms, _logit(win_stay), _logit(lose_shift))

    @property
    def name(self) -> str:
        return "wsls"

    def init_state(self):
        return (jnp.zeros((self.n_arms,), jnp.float32), jnp.zeros((), jnp.float32), jnp.zeros((), bool))

    def logits(self, state):
        last, reward, has = state
        stay = jnp.where(reward > 0, _unit(self.ws_raw), 1 - _unit(self.ls_raw))
        probs = last * stay + (1 - last) * (1 - stay) / (self.n_arms - 1)
        return jnp.where(has, jnp.log(jnp.clip(probs, 1e-6, 1.0)), jnp.zeros((self.n_arms,)))

    def update(self, state, choice, reward):
        return (jax.nn.one_hot(choice, self.n_arms), jnp.asarray(reward, jnp.float32), jnp.ones((), bool))

    def describe(self):
        return {"win_stay": float(_unit(self.ws_raw)), "lose_shift": float(_unit(self.ls_raw))}


class LogisticHistory(AbstractChoiceModel):
    """Logistic regression on the last ``n_back`` rewards and choices (Lau & Glimcher 2005):
    ``beta_reward[k]`` / ``beta_choice[k]`` weigh the trial ``k + 1`` back; with a side bias."""

    n_arms: int = eqx.field(static=True)
    bias: Array
    beta_reward: Array
    beta_choice: Array

    @classmethod
    def make(cls, n_arms: int = 2, *, n_back: int = 5) -> "LogisticHistory":
        if isinstance(n_back, bool) or not isinstance(n_back, int) or n_back < 1:
            raise ConfigError(f"LogisticHistory: n_back must be an integer ≥ 1, got {n_back!r}")
        return cls(n_arms, jnp.zeros((n_arms - 1,), jnp.float32), jnp.zeros((n_back,), jnp.float32),
                   jnp.zeros((n_back,), jnp.float32))

    @property
    def name(self) -> str:
        return f"logistic_{self.beta_reward.shape[-1]}"

    @property
    def n_back(self) -> int:
        return int(self.beta_reward.shape[-1])

    def init_state(self):
        z = jnp.zeros((self.n_back, self.n_arms), jnp.float32)
        return (z, z)

    def logits(self, state):
        rewarded, chosen = state
        out = self.beta_reward @ rewarded + self.beta_choice @ chosen
        return out.at[1:].add(self.bias)

    def update(self, state, choice, reward):
        rewarded, chosen = state
        c = jax.nn.one_hot(choice, self.n_arms)
        return (jnp.concatenate([(reward * c)[None], rewarded[:-1]]), jnp.concatenate([c[None], chosen[:-1]]))

    def describe(self):
        out = {f"bias[{a + 1}]": float(b) for a, b in enumerate(np.asarray(self.bias))}
        out.update({f"reward[-{k + 1}]": float(b) for k, b in enumerate(np.asarray(self.beta_reward))})
        out.update({f"choice[-{k + 1}]": float(b) for k, b in enumerate(np.asarray(self.beta_choice))})
        return out


class ConstantBias(AbstractChoiceModel):
    """The null model: fixed choice probabilities ``softmax(0, bias)``."""

    n_arms: int = eqx.field(static=True)
    bias: Array

    @classmethod
    def make(cls, n_arms: int = 2) -> "ConstantBias":
        return cls(n_arms, jnp.zeros((n_arms - 1,), jnp.float32))

    @property
    def name(self) -> str:
        return "constant_bias"

    def init_state(self):
        return jnp.zeros((), jnp.float32)

    def logits(self, state):
        return jnp.zeros((self.n_arms,), jnp.float32).at[1:].add(self.bias)

    def update(self, state, choice, reward):
        return state

    def describe(self):
        return {f"bias[{a + 1}]": float(b) for a, b in enumerate(np.asarray(self.bias))}


class PlasticityModel(AbstractChoiceModel):
    """The :class:`~plastinfer.circuits.BanditCircuit` with a plasticity ``rule``: the values
    are its weights, :math:`\\ell_a = w_a + b_a + κ K_a` (the rule's coefficients set the value
    scale, so there is no separate inverse temperature)."""

    n_arms: int = eqx.field(static=True)
    circuit: BanditCircuit
    rule: AbstractRule
    readout: Readout
    label: str = eqx.field(static=True, default="plasticity")

    @classmethod
    def make(cls, rule: AbstractRule, n_arms: int = 2, *, side_bias: bool = True, choice_kernel: bool = False,
             eta: float = 1.0, init_value: float = 0.0, label: str = "plasticity") -> "PlasticityModel":
        unknown = set(getattr(rule, "variables", ())) - {"y", "w", "r", "x"}
        if unknown:
            raise ConfigError(f"PlasticityModel: a bandit rule uses x, y, w, r; got {sorted(unknown)}")
        return cls(n_arms, BanditCircuit(n_arms=n_arms, eta=eta, init_value=init_value), rule,
                   Readout.make(n_arms, side_bias, choice_kernel), label)

    @property
    def name(self) -> str:
        return self.label

    def init_state(self):
        return (self.circuit.init(None), jnp.zeros((self.n_arms,), jnp.float32))

    def logits(self, state):
        cs, k = state
        return self.circuit.weights(cs)[:, 0] + self.readout.offsets(self.n_arms, k)

    def update(self, state, choice, reward):
        cs, k = state
        new, _ = self.circuit.step(cs, BanditInput(choice, reward, jnp.ones((), bool)), self.rule)
        return (new, self.readout.update_kernel(k, choice, self.n_arms))

    def from_q_learning(self, q: "QLearning") -> "PlasticityModel | None":
        """This model with the rule and readout that reproduce ``q`` exactly (Q-learning with
        forgetting is Δw = αβ·y·r − (α − φ)·y·w − φ·w with w = βQ), or ``None`` when this
        model's terms or readout cannot express it (a warm start for comparisons: the
        plasticity family then never ends below the Q-learning model it contains)."""
        alpha, beta = float(_unit(q.alpha_raw)), float(q.beta)
        phi = float(_unit(q.forget_raw)) if q.forget_raw is not None else 0.0
        terms = {"y1w0r1": alpha * beta, "y1w1r0": -(alpha - phi), "y0w1r0": -phi}
        need = [k for k, v in terms.items() if v != 0.0]
        rule = self.rule
        if (q.q0 != 0.0 or self.circuit.init_value != 0.0 or self.circuit.eta != 1.0 or not hasattr(rule, "with_terms")
                or q.n_arms != self.n_arms or (q.readout.kappa is None) != (self.readout.kappa is None)
                or (q.readout.bias is not None and self.readout.bias is None)):
            return None
        names = set(rule.names)
        active = set(rule.names if rule.active is None else rule.active)
        if not all(k in names and k in active for k in need):
            return None
        zero = {k: 0.0 for k in (rule.names if rule.active is None else rule.active)}
        rule = rule.with_terms({**zero, **{k: terms[k] for k in need}})
        bias = self.readout.bias if q.readout.bias is None else q.readout.bias
        if bias is not None and q.readout.bias is None:
            bias = jnp.zeros_like(bias)
        return eqx.tree_at(lambda m: (m.rule, m.readout), self,
                           (rule, Readout(bias, q.readout.kappa, q.readout.kernel_raw)), is_leaf=lambda x: x is None)

    def perturb(self, key: Array) -> "PlasticityModel":
        """Another start: rule coefficients plus N(0, 0.1²) noise (larger ones make the values
        of a 1,000-trial session explode), the readout plus N(0, 1)."""
        k1, k2 = jax.random.split(key)
        rule_p, rule_s = eqx.partition(self.rule, eqx.is_inexact_array)
        rule_p = jax.tree_util.tree_map(lambda a: a + 0.1 * jax.random.normal(k1, a.shape, a.dtype), rule_p)
        readout = AbstractChoiceModel.perturb(self.readout, k2) if jax.tree_util.tree_leaves(
            eqx.filter(self.readout, eqx.is_inexact_array)) else self.readout
        return eqx.tree_at(lambda m: (m.rule, m.readout), self, (eqx.combine(rule_p, rule_s), readout))

    def n_free(self) -> int:
        rule_free = int(np.sum(np.asarray(self.rule.mask()))) if hasattr(self.rule, "mask") else int(sum(
            np.size(a) for a in jax.tree_util.tree_leaves(eqx.filter(self.rule, eqx.is_inexact_array))))
        return rule_free + int(sum(np.size(a) for a in jax.tree_util.tree_leaves(
            eqx.filter(self.readout, eqx.is_inexact_array))))

    def describe(self):
        coefs = self.rule.coefficients() if hasattr(self.rule, "coefficients") else {}
        return {**{f"θ[{k}]": float(v) for k, v in coefs.items()}, **self.readout.describe()}


def bandit_terms(order: int = 2) -> list[str]:
    """Taylor terms in ``(y, w, r)`` for a bandit rule: ``y`` (chosen or not) and ``r`` (a
    0/1 reward) enter at most linearly — their squares repeat them — and the total degree is
    at most ``order``. ``order=2``: 1, r, w, w·r, w², y, y·r, y·w (8 terms)."""
    out = []
    for a in (0, 1):
        for b in range(order + 1):
            for c in (0, 1):
                if a + b + c <= order:
                    out.append(f"y{a}w{b}r{c}")
    return out


#: where :func:`plasticity_model` starts: Rescorla–Wagner with α = 0.3, β = 3 written as a rule
#: (Δw = αβ·y·r − α·y·w). The zero rule is a poor start: every value stays 0, and L-BFGS's first
#: step from there often lands where the values of a long session explode (flat, clipped).
RW_START = {"y1w0r1": 0.9, "y1w1r0": -0.3}


def plasticity_model(n_arms: int = 2, order: int = 2, *, terms: Sequence[str] | None = None, side_bias: bool = True,
                     choice_kernel: bool = False, label: str | None = None) -> "PlasticityModel":
    """A :class:`PlasticityModel` with a Taylor rule over ``terms`` (default
    :func:`bandit_terms`) starting at :data:`RW_START` (other terms 0), ready to fit."""
    from ..rules import Taylor

    active = list(terms) if terms is not None else bandit_terms(order)
    rule = Taylor.zeros(("y", "w", "r"), order=max(order, 1), active=active)
    start = {k: v for k, v in RW_START.items() if k in active}
    if start:
        rule = rule.with_terms(start)
    return PlasticityModel.make(rule, n_arms, side_bias=side_bias, choice_kernel=choice_kernel,
                                label=label or f"plasticity_{len(active)}")


def baseline_models(n_arms: int = 2, n_back: int = 5) -> dict[str, AbstractChoiceModel]:
    """The standard set: Q-learning (α, β), + side bias, + forgetting, + choice kernel,
    win-stay/lose-shift, logistic history regression and the constant-bias null."""
    models = [QLearning.make(n_arms), QLearning.make(n_arms, side_bias=True),
              QLearning.make(n_arms, side_bias=True, forgetting=True),
              QLearning.make(n_arms, side_bias=True, forgetting=True, choice_kernel=True),
              WinStayLoseShift.make(n_arms), LogisticHistory.make(n_arms, n_back=n_back), ConstantBias.make(n_arms)]
    return {m.name: m for m in models}


def model_parameters(model: AbstractChoiceModel) -> tuple[PyTree, Any]:
    """``(arrays, static)`` of a model: what is fitted and what is fixed."""
    return eqx.partition(model, eqx.is_inexact_array)
