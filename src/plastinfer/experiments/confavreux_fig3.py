"""``confavreux-fig3``: an inhibitory spike-timing rule meta-learned to set a target rate
(Confavreux et al. 2020, §3.3, Fig. 3).

One conductance-based LIF neuron, 800 tuned excitatory and 200 plastic inhibitory
afferents (Vogels et al. 2011); the six parameters of the spike-trace rule (Eq. 14) are
searched so that after 1 minute of plasticity the rate in a random 10 s window of the
next 30 s is 5 Hz (Eq. 16). The paper used Adam on finite-difference gradients; here the
default is evosax's ``Open_ES`` (Adam on antithetic Gaussian-smoothed finite differences).

Reported: the held-out rate of each found rule, its parameters, the steady-state rate
Eq. 17 predicts next to the simulated one, the Vogels 2011 rule as a check on the
simulator, and Figs. 3B–D. Protocol details the paper leaves open are in
``docs/confavreux.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import figures as figs  # noqa: E402
from ..circuits import InputProtocol, LIFNeuron, simulate_lif  # noqa: E402
from ..circuits._lif import realisation_keys  # noqa: E402
from ..infer import MetaConfig, meta_fit  # noqa: E402
from ..objectives import SpikingTask  # noqa: E402
from ..rules import SpikeTraceRule, vogels_istdp  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

FIG3_FULL = dict(restarts=3, generations=30, population_size=8, n_datasets=4, train_s=60.0, score_s=30.0,
                 window_s=10.0, method="Open_ES", sigma=0.3, learning_rate=0.1, held_out=8)
#: quick: 20 s of plasticity, the rate over the whole next 10 s (the paper's window length; a
#: 5 s window doubled the objective's variance, docs/confavreux-spiking.md)
FIG3_QUICK = dict(restarts=2, generations=12, population_size=8, n_datasets=2, train_s=20.0, score_s=10.0,
                  window_s=10.0, method="Open_ES", sigma=0.3, learning_rate=0.1, held_out=4)
#: Vogels et al. (2011): ρ₀ = 5 Hz, τ = 20 ms; η in our weight units (see vogels_istdp)
VOGELS_ETA = 1e-2
TARGET_HZ = 5.0
#: constant rate of the uncorrelated-input control (no group signal): high enough that the
#: neuron starts above the target, so the rule has to add inhibition as with the real inputs
UNCORRELATED_HZ = 10.0


def fig3_task(s: dict) -> SpikingTask:
    return SpikingTask(train_s=s["train_s"], score_s=s["score_s"], window_s=s["window_s"],
                       n_datasets=s["n_datasets"], target_hz=TARGET_HZ)


def random_start(key: jax.Array, scale: float = 0.5) -> SpikeTraceRule:
    """The search's random start: :meth:`SpikeTraceRule.random`."""
    return SpikeTraceRule.random(key, scale)


def mean_input_rate(protocol: InputProtocol, key: jax.Array, seconds: float = 200.0) -> float:
    """Time- and group-averaged presynaptic rate ``ν_pre`` of the input protocol (Hz)."""
    return float(jnp.mean(protocol.rates(key, seconds)))


def _plot_parameters(fits, path: Path) -> Path:
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    for i, f in enumerate(fits):
        th = f.history["theta"]
        for j, name in enumerate(("α", "β", "γ", "κ")):
            ax[0].plot(th[:, j], color=f"C{j}", alpha=0.8, ls=["-", "--", ":"][i % 3], label=name if i == 0 else None)
        for j, name in enumerate(("τ_pre", "τ_post")):
            ax[1].plot(1e3 * th[:, 4 + j], color=f"C{4 + j}", alpha=0.8, ls=["-", "--", ":"][i % 3],
                       label=name if i == 0 else None)
        ax[2].semilogy(np.maximum(f.history["loss"], 1e-4), color="k", alpha=0.8, ls=["-", "--", ":"][i % 3],
                       label=f"restart {i + 1}")
    ax[0].set_ylabel("weight change per spike")
    ax[1].set_ylabel("trace time constant (ms)")
    ax[2].set_ylabel("loss (best in population)")
    for a in ax:
        a.set_xlabel("meta-iteration")
        a.legend(fontsize=7)
    fig.suptitle("Fig. 3B: rule parameters and loss over meta-iterations (line style = restart)")
    return figs._save(fig, path)


def _plot_balance(circuit: LIFNeuron, rule, key, s: dict, path: Path) -> tuple[Path, dict]:
    duration = s["train_s"] + s["score_s"]
    _, rec = jax.jit(lambda r: simulate_lif(circuit, r, key, duration, record=True))(rule)
    w = np.asarray(rec.w)
    bins_per_s = 10
    w_exc = np.asarray(circuit.excitatory_weights(realisation_keys(key).exc_weights)).reshape(circuit.n_groups, -1).mean(1)
    # excitatory weights in inhibitory-weight units at rest: equal products ḡ·w·|E − V_rest| balance
    w_exc_equiv = w_exc * circuit.g_exc_bar * abs(circuit.e_exc - circuit.v_rest) / (
        circuit.g_inh_bar * abs(circuit.e_inh - circuit.v_rest))
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    t = np.arange(len(rec.spikes)) / bins_per_s
    for a, (lo, label) in zip(ax[:2], ((0.0, "start"), (s["train_s"], "after plasticity"))):
        m = (t >= lo) & (t < lo + 3.0)
        a.plot(t[m], np.asarray(rec.i_exc)[m], color="C3", label="excitatory")
        a.plot(t[m], -np.asarray(rec.i_inh)[m], color="C0", label="−inhibitory")
        a.set_title(f"currents, {label} (100 ms means)")
        a.set_xlabel("time (s)")
        a.set_ylabel("g·(E − V) (g_leak·mV)")
        a.legend(fontsize=7)
    groups = np.arange(1, circuit.n_groups + 1)
    ax[2].plot(groups, w_exc_equiv, color="grey", lw=3, label="excitatory (driving-force matched)")
    ax[2].plot(groups, w[0], "o-", color="C0", alpha=0.5, label="inhibitory, start")
    ax[2].plot(groups, w[-1], "o-", color="C0", label=f"inhibitory, {duration:.0f} s")
    ax[2].set_xlabel("input group")
    ax[2].set_ylabel("mean weight")
    ax[2].legend(fontsize=7)
    fig.suptitle("Fig. 3C: currents and inhibitory weights per group, before and after learning")
    rates = np.asarray(rec.spikes).reshape(-1, bins_per_s).sum(1)
    corr = float(np.corrcoef(w[-1], w_exc_equiv)[0, 1])
    return figs._save(fig, path), {"rate_first_s_hz": float(rates[0]), "rate_last_s_hz": float(rates[-1]),
                                   "corr_inh_vs_exc_weights_end": corr}


def _plot_alpha_beta(fits, nu_pre: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pts = 1e3 * np.concatenate([f.history["theta"][:, :2] for f in fits])  # in 10⁻³ per spike
    lim = 1.2 * max(np.abs(pts).max(), 1.0)
    a = np.linspace(-lim, lim, 50)
    ax.plot(a, -a * nu_pre / TARGET_HZ, "k:", label="β = −α ν_pre / ν_post (Eq. 18)")
    ax.axhline(0, color="k", ls="--", lw=0.8, label="β = 0 (Hebbian terms only)")
    for i, f in enumerate(fits):
        th = 1e3 * f.history["theta"]
        ax.plot(th[:, 0], th[:, 1], "-", color=f"C{i}", label=f"restart {i + 1}")
        ax.plot(th[0, 0], th[0, 1], "o", color=f"C{i}")
        ax.plot(th[-1, 0], th[-1, 1], "*", color=f"C{i}", ms=12)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim * nu_pre / TARGET_HZ, lim * nu_pre / TARGET_HZ)
    ax.set_xlabel("α (10⁻³ per presynaptic spike)")
    ax.set_ylabel("β (10⁻³ per postsynaptic spike)")
    ax.legend(fontsize=7)
    ax.set_title("Fig. 3D: (α, β) trajectories (o start, * end)", fontsize=10)
    return figs._save(fig, path)


def run_fig3(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = FIG3_QUICK if quick else FIG3_FULL
    t0 = time.perf_counter()
    task = fig3_task(s)
    held_key = jax.random.PRNGKey(9_000)
    nu_pre = mean_input_rate(task.protocol, jax.random.PRNGKey(9_001))
    rates_of = jax.jit(lambda r: task.rates(r, held_key, s["held_out"]))
    select_rates_of = jax.jit(lambda r: task.rates(r, jax.random.PRNGKey(8_000), s["held_out"]))

    vogels = vogels_istdp(VOGELS_ETA, TARGET_HZ)
    print(f"[confavreux-fig3] Vogels 2011 rule (η = {VOGELS_ETA}) on {s['held_out']} held-out inputs")
    vogels_rates = np.asarray(rates_of(vogels))
    no_plasticity = np.asarray(rates_of(SpikeTraceRule.create()))
    # control: constant-rate, uncorrelated inputs (no shared group signals), where Eq. 17's
    # assumption of independent pre- and postsynaptic trains nearly holds
    flat = SpikingTask(task.circuit, InputProtocol(amplitude_hz=0.0, baseline_hz=UNCORRELATED_HZ), task.train_s,
                       task.score_s, task.window_s, TARGET_HZ, task.n_datasets)
    vogels_flat = np.asarray(jax.jit(lambda r: flat.rates(r, held_key, s["held_out"]))(vogels))

    fits, found = [], []
    for r in range(s["restarts"]):
        print(f"[confavreux-fig3] restart {r + 1}/{s['restarts']}: {s['method']} on 6 parameters, "
              f"{s['generations']} meta-iterations × {s['population_size']} candidates × {s['n_datasets']} inputs "
              f"× {s['train_s'] + s['score_s']:.0f} s")
        start = random_start(jax.random.PRNGKey(300 + r))
        cfg = MetaConfig(method=s["method"], generations=s["generations"], population_size=s["population_size"],
                         sigma_init=s["sigma"], learning_rate=s["learning_rate"], l1=0.0, seed=r)
        f = meta_fit(start, task, config=cfg, progress=progress)
        fits.append(f)
        held = np.asarray(rates_of(f.rule))
        chosen_on = np.asarray(select_rates_of(f.rule))
        found.append({
            "parameters": f.rule.coefficients(),
            "equation": f.rule.equation(),
            "held_out_rate_hz": held.tolist(),
            "held_out_rate_mean_hz": float(held.mean()),
            "selection_rate_mean_hz": float(chosen_on.mean()),
            "predicted_steady_state_hz": float(f.rule.steady_state_rate(nu_pre)),
            "seconds": f.metrics["seconds"],
            "final_best_loss": f.metrics["final_best_loss"],
        })
    # the restart is chosen on its own inputs (selection realisations, not the held-out
    # ones), so the held-out rate reported for it is an honest test
    best = int(np.argmin([abs(x["selection_rate_mean_hz"] - TARGET_HZ) for x in found]))
    rate_best = found[best]["held_out_rate_mean_hz"]
    results = {
        "rate_hz": rate_best,
        "within_target": bool(abs(rate_best - TARGET_HZ) <= 0.5),
        "best_restart": best,
        "restarts": found,
        "nu_pre_hz": nu_pre,
        "vogels": {"eta": VOGELS_ETA, "held_out_rate_hz": vogels_rates.tolist(),
                   "rate_mean_hz": float(vogels_rates.mean()),
                   "predicted_steady_state_hz": float(vogels.steady_state_rate(nu_pre)),
                   "uncorrelated_inputs_hz": UNCORRELATED_HZ,
                   "uncorrelated_inputs_rate_hz": vogels_flat.tolist(),
                   "uncorrelated_inputs_rate_mean_hz": float(vogels_flat.mean()),
                   "reaches_prediction_with_uncorrelated_inputs": bool(abs(float(vogels_flat.mean()) - TARGET_HZ) <= 0.5)},
        "no_plasticity_rate_hz": float(no_plasticity.mean()),
        "paper": {"target_hz": TARGET_HZ, "protocol": "60 s plasticity, rate in a random 10 s window of the next 30 s"},
    }
    figures = [_plot_parameters(fits, out / "fig3b_parameters.png")]
    p, balance = _plot_balance(task.circuit, fits[best].rule, jax.random.PRNGKey(9_002), s, out / "fig3c_balance.png")
    figures += [p, _plot_alpha_beta(fits, nu_pre, out / "fig3d_alpha_beta.png")]
    results["balance_best_rule"] = balance

    rows = [("held-out rate, best found rule (Hz)", f"{rate_best:.2f}", f"{TARGET_HZ} (target; issue: ± 0.5)"),
            ("held-out rate per restart (Hz)", ", ".join(f"{x['held_out_rate_mean_hz']:.2f}" for x in found), "—"),
            ("rate on the selection inputs per restart (Hz; picks the rule)",
             ", ".join(f"{x['selection_rate_mean_hz']:.2f}" for x in found), "—"),
            ("Eq. 17 predicted rate per restart (Hz)", ", ".join(f"{x['predicted_steady_state_hz']:.2f}" for x in found),
             "found rules lie near β = −α ν_pre/ν_post"),
            ("Vogels 2011 rule, held-out rate (Hz)", f"{vogels_rates.mean():.2f}", "balances (Eq. 17: 5)"),
            (f"  same, uncorrelated {UNCORRELATED_HZ:.0f} Hz inputs (Hz)", f"{vogels_flat.mean():.2f}", "Eq. 17: 5"),
            ("no plasticity, rate (Hz)", f"{no_plasticity.mean():.2f}", "—"),
            ("ν_pre of the inputs (Hz)", f"{nu_pre:.2f}", "—"),
            ("wall time per restart (s)", ", ".join(f"{x['seconds']:.0f}" for x in found), "—")]
    print(side_by_side(rows, "confavreux-fig3: inhibitory spike-timing rule for a 5 Hz target"))
    for i, x in enumerate(found):
        print(f"  restart {i + 1}: {x['equation']}")
    finish(out, "confavreux-fig3", results, dict(s), t0, figures)
    return results


FIG3 = Experiment("confavreux-fig3", "Confavreux et al. 2020, Fig. 3",
                  "inhibitory spike-timing rule meta-learned for a 5 Hz target in a LIF neuron", run_fig3)
