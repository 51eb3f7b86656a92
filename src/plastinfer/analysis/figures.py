"""Figures (matplotlib, written as PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HIGHLIGHT = ("x1y1w0", "x0y2w1")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_coefficients(theta: np.ndarray, names: Sequence[str], path: Path, highlight=HIGHLIGHT, title=None) -> Path:
    """Coefficients over training epochs (Mehta et al. Fig. 2C): highlighted terms in colour.
    ``theta (epochs, n)``, or ``(epochs, subjects, n)`` for per-subject fits (the median over
    subjects is drawn)."""
    theta = np.asarray(theta)
    if theta.ndim == 3:
        title = title or f"Rule coefficients during training (median over {theta.shape[1]} subjects)"
        theta = np.median(theta, axis=1)
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(theta.shape[0])
    for n, name in enumerate(names):
        if name not in highlight:
            ax.plot(epochs, theta[:, n], color="0.7", lw=0.8)
    for n, name in enumerate(names):
        if name in highlight:
            ax.plot(epochs, theta[:, n], lw=2, label=f"θ[{name}]")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("training epoch")
    ax.set_ylabel("coefficient value")
    ax.set_title(title or "Rule coefficients during training")
    if any(name in highlight for name in names):
        ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_loss(loss: np.ndarray, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(np.arange(1, len(loss) + 1), loss)
    ax.set_xlabel("training epoch")
    ax.set_ylabel("training loss")
    ax.set_title("Loss")
    return _save(fig, path)


def plot_weight_error(err: np.ndarray, path: Path) -> Path:
    """MSE between ground-truth and model weights: time (x) × training epoch (y) (Fig. 2B)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    from matplotlib.colors import LogNorm

    positive = err[err > 0]
    norm = LogNorm(vmin=float(positive.min()), vmax=float(positive.max())) if positive.size else None
    im = ax.imshow(np.where(err > 0, err, np.nan), aspect="auto", origin="lower", cmap="viridis", norm=norm)
    fig.colorbar(im, ax=ax, label="weight MSE (log scale)")
    ax.set_xlabel("time step")
    ax.set_ylabel("training epoch")
    ax.set_title("Weight error, truth vs model")
    return _save(fig, path)


def plot_r2_grid(grid: np.ndarray, noise: Sequence[float], fractions: Sequence[float], path: Path, title=None) -> Path:
    """R² heat map over measurement noise (rows) × fraction of units recorded (columns) (Fig. 2D)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = ax.imshow(grid, cmap="magma", vmin=min(0.5, float(np.nanmin(grid))), vmax=1.0, origin="upper")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.8 else "k", fontsize=8)
    ax.set_xticks(range(len(fractions)), [f"{f:g}" for f in fractions])
    ax.set_yticks(range(len(noise)), [f"{s:g}" for s in noise])
    ax.set_xlabel("fraction of units recorded")
    ax.set_ylabel("noise std")
    fig.colorbar(im, ax=ax, label="R² of weights (held out)")
    ax.set_title(title or "R² of weight trajectories")
    return _save(fig, path)


def plot_boxes(groups: dict[str, Sequence[float]], path: Path, xlabel: str, title: str,
               ylabel: str = "R² of weights (held out)") -> Path:
    """Distributions across seeds or subjects (Fig. 2E, F; Fig. 3C, E, F; Fig. 4C), with the points."""
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(groups) + 2), 3.5))
    labels = list(groups)
    ax.boxplot([list(groups[k]) for k in labels])
    for i, k in enumerate(labels, start=1):
        v = np.asarray(groups[k], float)
        ax.scatter(i + 0.08 * (np.random.default_rng(i).random(v.size) - 0.5), v, s=8, color="k", alpha=0.6, zorder=3)
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def fit_figures(result, run_dir: Path) -> list[Path]:
    """The standard figures of a trajectory fit."""
    run_dir = Path(run_dir)
    out = []
    if "loss" in result.history:
        out.append(plot_loss(result.history["loss"], run_dir / "loss.png"))
    if "theta" in result.history and result.names:
        out.append(plot_coefficients(result.history["theta"], result.names, run_dir / "coefficients.png"))
    if "weight_error" in result.history:
        out.append(plot_weight_error(result.history["weight_error"], run_dir / "weight_error.png"))
    return out


def plot_rule_portraits(rules: dict, path: Path, x: float = 0.5, w: float = 0.01, lim: float = 2.0,
                        title: str | None = None) -> Path:
    """One row per rule: ``Δw(x, y)`` at fixed ``w`` (Ramesh et al. Fig. 2D) and the ``(w, y)``
    vector field at fixed ``x`` with its nullclines and fixed points (Fig. 2E; filled =
    stable, open = unstable)."""
    from ._portraits import delta_grid, fixed_points, vector_field

    n = len(rules)
    fig, ax = plt.subplots(n, 2, figsize=(9, 3.6 * n), squeeze=False)
    grid = np.linspace(-lim, lim, 41)
    for row, (name, rule) in enumerate(rules.items()):
        d = delta_grid(rule, grid, grid, w=w)
        m = np.abs(d).max() or 1.0
        im = ax[row, 0].imshow(d, origin="lower", extent=(-lim, lim, -lim, lim), cmap="RdBu_r", vmin=-m, vmax=m,
                               aspect="auto")
        fig.colorbar(im, ax=ax[row, 0])
        ax[row, 0].set_xlabel("presynaptic x")
        ax[row, 0].set_ylabel("postsynaptic y")
        ax[row, 0].set_title(f"{name}: Δw at w = {w}")
        fine = np.linspace(-lim, lim, 201)
        dwf, dyf = vector_field(rule, fine, fine, x=x)
        ws, dw, dy = fine[::10], dwf[::10, ::10], dyf[::10, ::10]  # 21 × 21 arrows from the same grid
        ax[row, 1].quiver(*np.meshgrid(ws, ws), dw, dy, np.hypot(dw, dy), cmap="viridis", angles="xy")
        ax[row, 1].contour(*np.meshgrid(fine, fine), dwf, levels=[0.0], colors="k", linewidths=1)
        ax[row, 1].plot(fine, fine * x, "k--", lw=1)
        for fp in fixed_points(rule, x, (-lim, lim)):
            ax[row, 1].plot(fp["w"], fp["y"], "o", color="red", mfc="red" if fp["stable"] else "white", ms=8)
        ax[row, 1].set_xlim(-lim, lim)
        ax[row, 1].set_ylim(-lim, lim)
        ax[row, 1].set_xlabel("weight w")
        ax[row, 1].set_ylabel("postsynaptic y")
        ax[row, 1].set_title(f"{name}: (w, y) field at x = {x}; nullclines black")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
