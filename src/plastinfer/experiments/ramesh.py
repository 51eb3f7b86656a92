"""``ramesh-fig2``: a local MLP rule fit adversarially to Oja data (Ramesh et al. 2023, Fig. 2).

Data: a linear 3 → 1 network learning with Oja's rule by batch updates (K = 100 fixed
presynaptic patterns, T = 200 steps, initial weights N(0, 0.1²)); each datum is the
postsynaptic trace of one pattern. The generator is the same network with a local MLP
rule (3 inputs ``w, x, y``, two hidden layers of 10, tanh), fresh initial weights and
patterns on every pass; the discriminator an MLP on traces with spectral normalisation.

Reported: the per-time-point 1-Wasserstein distance between the learned rule's traces and
held-out data, next to the same distance for fresh Oja traces (the sampling floor); the
distance of the weights to ±PC1 over time for both rules; rule portraits (Δw heatmap,
(w, y) vector field with fixed points). Choices the paper leaves open (covariance, η,
budget) are listed in ``docs/ramesh.md``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import activity_distance, fixed_points  # noqa: E402
from ..analysis import figures as figs  # noqa: E402
from ..circuits import PlasticLayer  # noqa: E402
from ..infer.adversarial import ActivityGenerator, AdversarialConfig, adversarial_fit  # noqa: E402
from ..rules import MLPRule, oja  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

#: input covariance: eigenvalues 1, 0.5, 0.25 under a fixed random rotation (seed 0) — our
#: choice; the paper's Supp. B.1 is not in the text we have
SPECTRUM = (1.0, 0.5, 0.25)
ETA = 0.05
#: fresh Oja draws whose mean W1 to the held-out data is the sampling floor (one draw
#: varies 0.018–0.039 at the quick size, docs/ramesh.md)
FLOOR_DRAWS = 8
FIG2_FULL = dict(steps=3000, networks=4, lr_generator=1e-3, lr_discriminator=1e-3, data_networks=200,
                 held_out_networks=100, width=10, depth=2)
#: quick: 1,200 steps (issue 21; 400 before): held-out W1 0.030 vs 0.068, in 80 s of fitting —
#: more steps do not help, the GAN's selection score oscillates (docs/ramesh.md)
FIG2_QUICK = dict(steps=1200, networks=4, lr_generator=1e-3, lr_discriminator=1e-3, data_networks=100,
                  held_out_networks=50, width=10, depth=2)


def covariance_sqrt(spectrum=SPECTRUM, seed: int = 0) -> jnp.ndarray:
    """``L`` with ``L Lᵀ = R diag(spectrum) Rᵀ``, ``R`` a fixed random rotation."""
    q, r = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(seed), (len(spectrum), len(spectrum))))
    q = q * jnp.sign(jnp.diag(r))
    return q @ jnp.diag(jnp.sqrt(jnp.asarray(spectrum, jnp.float32)))


def oja_generator(n_in: int = 3, noise_std: float = 0.0, spectrum=SPECTRUM) -> ActivityGenerator:
    return ActivityGenerator(PlasticLayer(n_in, 1, "linear", eta=ETA, init_std=0.1), covariance_sqrt(spectrum),
                             n_samples=100, n_steps=200, noise_std=noise_std)


def weight_distance(gen: ActivityGenerator, rule, key, n_networks: int) -> np.ndarray:
    """``(n_networks, T)`` sign-invariant ‖w_t − PC1‖ of each network's (single-output) weights."""
    return gen.weight_distances(rule, key, n_networks)[:, 0]


def _floor_draws(gen, held: np.ndarray, key, n_networks: int) -> list[float]:
    """Mean W1 to ``held`` of :data:`FLOOR_DRAWS` fresh sets of Oja networks: the sampling
    floor and its spread (one draw alone varies by a factor of 2, docs/ramesh.md)."""
    return [float(activity_distance(np.asarray(gen.traces(oja(), k, n_networks)), held).mean())
            for k in jax.random.split(jax.random.fold_in(key, 1), FLOOR_DRAWS)]


def _plot_traces(data, learned, oja_fresh, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    t = np.arange(data.shape[1])
    for i in range(20):
        ax[0].plot(t, data[i], color="k", alpha=0.3, lw=0.8)
        ax[0].plot(t, learned[i], color="C0", alpha=0.3, lw=0.8)
    ax[0].set_title("traces: Oja data (black), learned rule (blue)")
    ax[0].set_xlabel("time step")
    for q, ls in ((50, "-"), (10, ":"), (90, ":")):
        ax[1].plot(t, np.percentile(data, q, axis=0), "k", ls=ls)
        ax[1].plot(t, np.percentile(learned, q, axis=0), "C0", ls=ls)
    ax[1].set_title("median and 10/90 % of the activity")
    ax[1].set_xlabel("time step")
    ax[2].plot(t, activity_distance(learned, data), color="C0", label="learned vs held-out data")
    ax[2].plot(t, activity_distance(oja_fresh, data), color="k", label="fresh Oja vs held-out data")
    ax[2].set_title("1-Wasserstein distance per time point")
    ax[2].set_xlabel("time step")
    ax[2].legend(fontsize=8)
    fig.suptitle(title)
    return figs._save(fig, path)


def _plot_weights(dist: dict, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (name, d) in enumerate(dist.items()):
        ax.plot(np.median(d, axis=0), color="k" if name == "Oja" else f"C{i}", label=f"{name} (median)")
        ax.fill_between(np.arange(d.shape[1]), *np.percentile(d, [10, 90], axis=0),
                        color="k" if name == "Oja" else f"C{i}", alpha=0.15)
    ax.set_xlabel("time step")
    ax.set_ylabel("‖w − PC1‖ (sign-invariant)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return figs._save(fig, path)


def _plot_training(history: dict, path: Path) -> Path:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    k = max(1, len(history["d_accuracy"]) // 100)
    smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")  # noqa: E731
    ax[0].plot(smooth(history["d_accuracy"]))
    ax[0].axhline(0.5, color="k", ls=":", lw=0.8)
    ax[0].set_title("discriminator accuracy (0.5 = indistinguishable)")
    ax[1].plot(smooth(history["g_loss"]), label="generator")
    ax[1].plot(smooth(history["d_loss"]), label="discriminator")
    ax[1].legend(fontsize=8)
    ax[1].set_title("losses")
    for a in ax:
        a.set_xlabel("step")
    return figs._save(fig, path)


def run_fig2(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = FIG2_QUICK if quick else FIG2_FULL
    t0 = time.perf_counter()
    gen = oja_generator()
    k_data, k_held, k_fresh, k_eval, k_rule = jax.random.split(jax.random.PRNGKey(2023), 5)
    data = np.asarray(gen.traces(oja(), k_data, s["data_networks"]))
    held = np.asarray(gen.traces(oja(), k_held, s["held_out_networks"]))
    print(f"[ramesh-fig2] {data.shape[0]} training traces, {held.shape[0]} held out; "
          f"adversarial fit of a local MLP rule, {s['steps']} steps")
    start = MLPRule(k_rule, ("x", "y", "w"), width=s["width"], depth=s["depth"])
    cfg = AdversarialConfig(steps=s["steps"], networks=s["networks"], lr_generator=s["lr_generator"],
                            lr_discriminator=s["lr_discriminator"], select_networks=s.get("select_networks", 50))
    fit = adversarial_fit(start, gen, data, config=cfg, progress=progress)
    learned = np.asarray(gen.traces(fit.rule, k_eval, s["held_out_networks"]))
    fresh = np.asarray(gen.traces(oja(), k_fresh, s["held_out_networks"]))
    d_learned, d_floor = activity_distance(learned, held), activity_distance(fresh, held)
    # the floor is itself a random draw (one set of fresh networks): its mean over
    # FLOOR_DRAWS further sets is the reference the learned rule is judged against
    floor_draws = _floor_draws(gen, held, k_fresh, s["held_out_networks"])
    floor_mean = float(np.mean(floor_draws))
    over_floor = float(d_learned.mean()) / floor_mean
    d_untrained = activity_distance(np.asarray(gen.traces(start, k_eval, s["held_out_networks"])), held)
    dist = {"Oja": weight_distance(gen, oja(), k_eval, s["held_out_networks"]),
            "learned MLP": weight_distance(gen, fit.rule, k_eval, s["held_out_networks"])}
    final = {k: float(np.median(v[:, -1])) for k, v in dist.items()}
    results = {
        "activity_distance": {"learned_vs_held_out_mean": float(d_learned.mean()),
                              "oja_vs_held_out_mean": float(d_floor.mean()),
                              "untrained_vs_held_out_mean": float(d_untrained.mean()),
                              "learned_per_time": d_learned.tolist(), "oja_per_time": d_floor.tolist(),
                              "learned_max": float(d_learned.max()), "oja_max": float(d_floor.max()),
                              "floor_draws": floor_draws, "floor_mean_of_draws": floor_mean,
                              "learned_over_mean_floor": over_floor},
        "final_distance_to_pc1_median": final,
        "weights_converge_to_pc1": bool(final["learned MLP"] <= 0.1),
        "fixed_points_x0.5": {"Oja": fixed_points(oja(), 0.5), "learned MLP": fixed_points(fit.rule, 0.5)},
        "final_d_accuracy": fit.metrics["final_d_accuracy"],
        "seconds_per_step": fit.metrics["seconds_per_step"],
        "paper": {"activity": "matches held-out statistics", "weights": "do not converge to PC1"},
    }
    figures = [
        _plot_traces(held, learned, fresh, out / "fig2b_activity.png", "Fig. 2B: activity, learned rule vs Oja data"),
        _plot_weights(dist, out / "fig2c_weights.png", "Fig. 2C: distance of the weights to PC1"),
        figs.plot_rule_portraits({"Oja": oja(), "learned MLP": fit.rule}, out / "fig2de_portraits.png",
                                 title="Fig. 2D–E: Δw at w = 0.01 and the (w, y) vector field at x = 0.5"),
        _plot_training(fit.history, out / "training.png"),
    ]
    rows = [
        ("mean W1 distance to held-out activity: learned", f"{d_learned.mean():.4f}", "matches held-out statistics"),
        ("  same, fresh Oja traces (sampling floor)", f"{d_floor.mean():.4f}", "—"),
        (f"  floor over {FLOOR_DRAWS} more fresh draws: mean (range)",
         f"{floor_mean:.4f} ({min(floor_draws):.4f}–{max(floor_draws):.4f})", "—"),
        ("  learned / mean floor", f"{over_floor:.2f}×", "issue 21 target: ≤ 1.25×"),
        ("  same, untrained rule", f"{d_untrained.mean():.4f}", "—"),
        ("median final ‖w − PC1‖: learned / Oja", f"{final['learned MLP']:.3f} / {final['Oja']:.3f}",
         "learned does not converge to PC1"),
        ("fixed points at x = 0.5 (w*, stable): learned",
         ", ".join(f"{fp['w']:.2f}{'s' if fp['stable'] else 'u'}" for fp in results["fixed_points_x0.5"]["learned MLP"])
         or "none in [−3, 3]", "one stable fixed point"),
        ("discriminator accuracy, last steps", f"{fit.metrics['final_d_accuracy']:.2f}", "—"),
        ("seconds per generator/discriminator round", f"{fit.metrics['seconds_per_step']:.3f}", "—"),
    ]
    print(side_by_side(rows, "ramesh-fig2: local MLP rule fit adversarially to Oja data"))
    finish(out, "ramesh-fig2", results, dict(s), t0, figures)
    return results


FIG2 = Experiment("ramesh-fig2", "Ramesh et al. 2023, Fig. 2",
                  "local MLP rule fit adversarially to Oja data: same activity, other weights?", run_fig2)


# ---------------------------------------------------------------------------- Fig. 3
#: 39-input covariance: eigenvalues 0.5^i (i = 0..38) under a fixed random rotation — the
#: 3-input spectrum (1, 0.5, 0.25) continued; the paper's Supp. B.1 is not in our text
SPECTRUM_39 = tuple(0.5 ** i for i in range(39))
NOISE_STD = 0.25
#: the 39-input generator costs 13× more per network (one MLP call per synapse), so its fit
#: draws ``networks_39`` networks (100 traces each) per step instead of ``networks``
FIG3_FULL = dict(FIG2_FULL, networks_39=1, mse_networks=50, mse_epochs=150, mse_batch=4, mse_lr=3e-3)
FIG3_QUICK = dict(FIG2_QUICK, steps=400, networks_39=1, mse_networks=20, mse_epochs=60, mse_batch=4, mse_lr=3e-3)


def _plot_activity_rows(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """One row per (label, learned traces, held-out data, fresh Oja traces): example traces,
    median and 10/90 % over time, and the per-time W1 distance (learned and Oja floor)."""
    fig, ax = plt.subplots(len(rows), 3, figsize=(13, 3.1 * len(rows)), squeeze=False)
    for r, (label, learned, data, fresh) in enumerate(rows):
        t = np.arange(data.shape[1])
        for i in range(15):
            ax[r, 0].plot(t, data[i], color="k", alpha=0.3, lw=0.8)
            ax[r, 0].plot(t, learned[i], color="C1", alpha=0.3, lw=0.8)
        ax[r, 0].set_title(f"{label}: traces (Oja black)", fontsize=9)
        for q, ls in ((50, "-"), (10, ":"), (90, ":")):
            ax[r, 1].plot(t, np.percentile(data, q, axis=0), "k", ls=ls)
            ax[r, 1].plot(t, np.percentile(learned, q, axis=0), "C1", ls=ls)
        ax[r, 1].set_title("median and 10/90 %", fontsize=9)
        ax[r, 2].plot(t, activity_distance(learned, data), color="C1", label="learned vs held-out")
        ax[r, 2].plot(t, activity_distance(fresh, data), color="k", label="fresh Oja (floor)")
        ax[r, 2].set_title("W1 per time point", fontsize=9)
        ax[r, 2].legend(fontsize=7)
    for a in ax[-1]:
        a.set_xlabel("time step")
    fig.suptitle(title)
    fig.tight_layout()
    return figs._save(fig, path)


def _mse_fit(start, gen: ActivityGenerator, key, s: dict, progress: bool, init_weights: str = "true"):
    """The supervised comparison: the same rule family fit by MSE on paired traces (the
    data's own patterns; a noiseless model). ``init_weights="true"`` gives the fit each
    network's true initial weights (an oracle); ``"resample"`` draws them afresh, as for
    real data where they are unknown (Mehta et al.'s protocol)."""
    from ..infer import TrajectoryFitConfig, fit_trajectory

    data = gen.dataset(oja(), key, s["mse_networks"])
    cfg = TrajectoryFitConfig(epochs=s["mse_epochs"], learning_rate=s["mse_lr"], batch_size=s["mse_batch"],
                              init_weights=init_weights, checkpoint=None, clip=1.0, solver="adam")
    return fit_trajectory(start, gen.circuit, data, config=cfg, progress=progress)


def rule_mismatch(rule, gen: ActivityGenerator, key, n_networks: int = 20) -> float:
    r"""How far ``rule`` is from Oja's *where the data live*: over the states ``(x_k, y_k^t,
    w^t)`` that Oja networks of setting ``gen`` visit, the relative RMS difference of the
    batch-averaged updates, ``‖Δw_rule − Δw_Oja‖ / ‖Δw_Oja‖`` (pooled over time and networks)."""
    x, y, w = gen.networks(oja(), jax.random.split(key, n_networks))  # (D,K,n), (D,T,K,1), (D,T,1,n)

    def per_net(xd, yd, wd):
        return jax.vmap(lambda yt, wt: (rule(xd, yt, wt), oja()(xd, yt, wt)))(yd, wd)

    d_rule, d_oja = jax.vmap(per_net)(x, y, w)
    return float(jnp.sqrt(jnp.sum((d_rule - d_oja) ** 2) / jnp.sum(d_oja ** 2)))


def _comparison_rows(table: dict, tests: list[str]) -> list[tuple[str, str, str]]:
    rows = []
    for name, row in table.items():
        for t in tests:
            c = row[t]
            if c is not None:
                rows.append((f"{name} → {t}: W1 mean / final ‖w−PC1‖", f"{c['w1_mean']:.3f} / {c['pc1_final']:.2f}",
                             "—"))
    return rows


def run_fig3(out: Path, quick: bool = False, progress: bool = True) -> dict:
    from ..analysis import compare_rules, comparison_markdown

    out = Path(out)
    s = FIG3_QUICK if quick else FIG3_FULL
    t0 = time.perf_counter()
    gens = {"clean 3-input": oja_generator(), "noisy 3-input": oja_generator(noise_std=NOISE_STD),
            "39-input": oja_generator(39, spectrum=SPECTRUM_39)}
    keys = dict(zip(("data", "held", "fresh", "eval", "rule", "mse"), jax.random.split(jax.random.PRNGKey(2023), 6)))
    held = {n: np.asarray(g.traces(oja(), keys["held"], s["held_out_networks"])) for n, g in gens.items()}
    fresh = {n: np.asarray(g.traces(oja(), keys["fresh"], s["held_out_networks"])) for n, g in gens.items()}
    start = MLPRule(keys["rule"], ("x", "y", "w"), width=s["width"], depth=s["depth"])
    cfg = AdversarialConfig(steps=s["steps"], networks=s["networks"], lr_generator=s["lr_generator"],
                            lr_discriminator=s["lr_discriminator"], select_networks=s.get("select_networks", 50))
    rules, fits = {"Oja (truth)": oja()}, {}
    for train, label in (("noisy 3-input", "GAN, noisy data"), ("39-input", "GAN, 39-input data")):
        data = np.asarray(gens[train].traces(oja(), keys["data"], s["data_networks"]))
        c = cfg if train != "39-input" else dataclasses.replace(cfg, networks=s["networks_39"])
        print(f"[ramesh-fig3] adversarial fit of a local MLP rule to {train} Oja data ({data.shape[0]} traces, "
              f"{s['steps']} steps of {c.networks} networks)")
        fits[label] = adversarial_fit(start, gens[train], data, config=c, progress=progress)
        rules[label] = fits[label].rule
    for train, label, init in (("noisy 3-input", "MSE, noisy data", "true"), ("clean 3-input", "MSE, clean data", "true"),
                               ("noisy 3-input", "MSE, noisy data, unknown w0", "resample")):
        print(f"[ramesh-fig3] MSE trajectory fit of the same MLP to {train} Oja data ({s['mse_networks']} networks, "
              f"{s['mse_epochs']} epochs, initial weights: {init})")
        fits[label] = _mse_fit(start, gens[train], keys["mse"], s, progress, init_weights=init)
        rules[label] = fits[label].rule
    table = compare_rules(rules, {n: (g, held[n]) for n, g in gens.items()}, keys["eval"], s["held_out_networks"])
    tr = lambda name, gen: np.asarray(gens[gen].traces(rules[name], keys["eval"], s["held_out_networks"]))  # noqa: E731
    figures = [
        _plot_activity_rows([
            ("A top: GAN (noisy) on noisy net", tr("GAN, noisy data", "noisy 3-input"), held["noisy 3-input"],
             fresh["noisy 3-input"]),
            ("A middle: MSE (noisy) on noisy net", tr("MSE, noisy data", "noisy 3-input"), held["noisy 3-input"],
             fresh["noisy 3-input"]),
            ("A bottom: GAN (noisy) on clean net", tr("GAN, noisy data", "clean 3-input"), held["clean 3-input"],
             fresh["clean 3-input"]),
            ("A extra: MSE (noisy) on clean net", tr("MSE, noisy data", "clean 3-input"), held["clean 3-input"],
             fresh["clean 3-input"]),
            ("A extra: MSE (noisy, unknown w0) on noisy net", tr("MSE, noisy data, unknown w0", "noisy 3-input"),
             held["noisy 3-input"], fresh["noisy 3-input"]),
        ], out / "fig3a_noisy.png", "Fig. 3A: trained on noisy-postsynaptic data"),
        _plot_activity_rows([
            ("B top: GAN (39) on 39-input net", tr("GAN, 39-input data", "39-input"), held["39-input"],
             fresh["39-input"]),
            ("B bottom: GAN (39) on clean 3-input net", tr("GAN, 39-input data", "clean 3-input"),
             held["clean 3-input"], fresh["clean 3-input"]),
        ], out / "fig3b_39inputs.png", "Fig. 3B: trained on 39-input data"),
        _plot_weights({n: weight_distance(gens["clean 3-input"], r, keys["eval"], s["held_out_networks"])
                       for n, r in (("Oja", oja()),) + tuple((k, v) for k, v in rules.items() if k != "Oja (truth)")},
                      out / "fig3_weights.png", "Fig. 3 III: ‖w − PC1‖ on the clean 3-input network"),
        figs.plot_rule_portraits({k: v for k, v in rules.items()}, out / "fig3_portraits.png",
                                 title="Δw at w = 0.01 and the (w, y) field at x = 0.5"),
    ]
    clean = "clean 3-input"
    floors = {n: float(np.mean(_floor_draws(g, held[n], keys["fresh"], s["held_out_networks"])))
              for n, g in gens.items()}
    results = {
        "comparison": table,
        "comparison_markdown": comparison_markdown(table),
        "floors_w1_mean": {n: float(activity_distance(fresh[n], held[n]).mean()) for n in gens},
        "floors_w1_mean_of_draws": floors,
        "generalises_to_clean": {k: bool(table[k][clean]["w1_mean"] <= 1.5 * table["Oja (truth)"][clean]["w1_mean"])
                                 for k in rules if k != "Oja (truth)"},
        "rule_mismatch_on_oja_states": {k: {n: rule_mismatch(r, g, keys["eval"]) for n, g in gens.items()}
                                        for k, r in rules.items() if k != "Oja (truth)"},
        "final_d_accuracy": {k: f.metrics["final_d_accuracy"] for k, f in fits.items() if "GAN" in k},
        "mse_final_train_mse": {k: float(f.history["mse"][-1]) for k, f in fits.items() if "MSE" in k},
        "paper": {"GAN rules on the clean network": "match Oja's activity statistics",
                  "MSE rule": "does not generalise as well", "weights": "differ from Oja's"},
    }
    mism = [(f"{k}: ‖Δw − Δw_Oja‖/‖Δw_Oja‖ on Oja's states, " + " / ".join(gens), " / ".join(
        f"{v:.2f}" for v in m.values()), "—") for k, m in results["rule_mismatch_on_oja_states"].items()]
    floor_rows = [(f"sampling floor → {n}: one draw (the Oja row) / mean of {FLOOR_DRAWS} more",
                   f"{results['floors_w1_mean'][n]:.3f} / {v:.3f}", "—") for n, v in floors.items()]
    print(side_by_side(_comparison_rows(table, list(gens)) + floor_rows + mism,
                       "ramesh-fig3: rules trained on perturbed data, tested everywhere (Oja row = sampling floor)"))
    print(comparison_markdown(table))
    finish(out, "ramesh-fig3", results, dict(s), t0, figures)
    return results


FIG3 = Experiment("ramesh-fig3", "Ramesh et al. 2023, Fig. 3",
                  "MLP rules fit (GAN / MSE) to noisy and 39-input Oja data, tested on the clean network", run_fig3)


# ---------------------------------------------------------------------------- Fig. 4
FIG4_FULL = dict(FIG2_FULL)
FIG4_QUICK = dict(FIG2_QUICK, steps=400)


def fig4_rules(key, width: int = 10, depth: int = 2) -> dict:
    """The three parametrisations of Fig. 4 (Ramesh et al. §4.3), initial values: Oja + local
    MLP (the MLP starts at exactly zero output slope and bias, so the rule starts at Oja),
    semi-global MLP, global MLP (3 → 1 layer)."""
    from ..rules import Frozen, GlobalMLPRule, SemiGlobalMLPRule

    k1, k2, k3 = jax.random.split(key, 3)
    return {"Oja + local MLP": Frozen(oja()) + MLPRule(k1, ("x", "y", "w"), width=width, depth=depth, out_bias=0.0),
            "semi-global MLP": SemiGlobalMLPRule(k2, width=width, depth=depth),
            "global MLP": GlobalMLPRule(k3, 3, 1, width=width, depth=depth)}


def run_fig4(out: Path, quick: bool = False, progress: bool = True) -> dict:
    from ..analysis import compare_rules, comparison_markdown

    out = Path(out)
    s = FIG4_QUICK if quick else FIG4_FULL
    t0 = time.perf_counter()
    gen = oja_generator()
    k_data, k_held, k_fresh, k_eval, k_rule = jax.random.split(jax.random.PRNGKey(2023), 5)  # as in Fig. 2
    data = np.asarray(gen.traces(oja(), k_data, s["data_networks"]))
    held = np.asarray(gen.traces(oja(), k_held, s["held_out_networks"]))
    fresh = np.asarray(gen.traces(oja(), k_fresh, s["held_out_networks"]))
    cfg = AdversarialConfig(steps=s["steps"], networks=s["networks"], lr_generator=s["lr_generator"],
                            lr_discriminator=s["lr_discriminator"], select_networks=s.get("select_networks", 50))
    rules, fits = {"Oja (truth)": oja()}, {}
    for name, start in fig4_rules(k_rule, s["width"], s["depth"]).items():
        print(f"[ramesh-fig4] adversarial fit of the {name} rule ({s['steps']} steps)")
        fits[name] = adversarial_fit(start, gen, data, config=cfg, progress=progress)
        rules[name] = fits[name].rule
    table = compare_rules(rules, {"3-input": (gen, held)}, k_eval, s["held_out_networks"])
    learned = {k: np.asarray(gen.traces(r, k_eval, s["held_out_networks"])) for k, r in rules.items()}
    figures = [
        _plot_activity_rows([(k, learned[k], held, fresh) for k in fits], out / "fig4b_activity.png",
                            "Fig. 4B: activity of the three parametrisations vs Oja data"),
        _plot_weights({("Oja" if k == "Oja (truth)" else k): weight_distance(gen, r, k_eval, s["held_out_networks"])
                       for k, r in rules.items()}, out / "fig4c_weights.png", "Fig. 4C: ‖w − PC1‖"),
        figs.plot_rule_portraits(rules, out / "fig4de_portraits.png",
                                 title="Fig. 4D–E: Δw at w = 0.01 and the (w, y) field at x = 0.5"),
    ]
    results = {
        "comparison": table,
        "comparison_markdown": comparison_markdown(table),
        "floor_w1_mean": float(activity_distance(fresh, held).mean()),
        "floor_w1_mean_of_draws": float(np.mean(_floor_draws(gen, held, k_fresh, s["held_out_networks"]))),
        "final_d_accuracy": {k: f.metrics["final_d_accuracy"] for k, f in fits.items()},
        "seconds_per_step": {k: f.metrics["seconds_per_step"] for k, f in fits.items()},
        "paper": {"activity": "all three reproduce the statistics", "weights": "differ from Oja's and from each other"},
    }
    print(side_by_side(_comparison_rows(table, ["3-input"]) + [
        (f"sampling floor: one draw (the Oja row) / mean of {FLOOR_DRAWS} more",
         f"{results['floor_w1_mean']:.3f} / {results['floor_w1_mean_of_draws']:.3f}", "—")] + [
        (f"{k}: fixed points at x = 0.5", r["fixed_points"], "—") for k, r in table.items()],
                       "ramesh-fig4: three rule parametrisations fit adversarially to the same Oja data"))
    print(comparison_markdown(table))
    finish(out, "ramesh-fig4", results, dict(s), t0, figures)
    return results


FIG4 = Experiment("ramesh-fig4", "Ramesh et al. 2023, Fig. 4",
                  "Oja + local MLP, semi-global and global MLP rules fit adversarially to the same data", run_fig4)
