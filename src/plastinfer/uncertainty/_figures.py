"""Figures of a posterior: a corner plot of the coefficients, and the curvature spectrum."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _draws(post, n: int = 4000, seed: int = 0) -> np.ndarray:
    """Draws ``(n, k)`` from a :class:`Posterior` (its samples) or a :class:`Laplace` (its
    Gaussian on the determined directions)."""
    if hasattr(post, "draws"):
        return post.draws
    return post.sample(n, seed=seed)


def corner(post, path, *, names: list[str] | None = None, max_params: int = 6) -> Path:
    """Pairwise scatter and marginal histograms of up to ``max_params`` coefficients (default:
    those whose posterior mean is farthest from 0 in sd units, then by name order)."""
    draws = _draws(post)
    all_names = list(post.names)
    if names is None:
        mean, sd = draws.mean(0), draws.std(0) + 1e-12
        order = np.argsort(-np.abs(mean) / sd, kind="stable")
        names = [all_names[i] for i in order[:max_params]]
    idx = [all_names.index(n) for n in names]
    k = len(idx)
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 1, 1.9 * k + 1), squeeze=False)
    for r in range(k):
        for c in range(k):
            ax = axes[r, c]
            if c > r:
                ax.axis("off")
                continue
            if r == c:
                ax.hist(draws[:, idx[c]], bins=40, color="C0", alpha=0.8)
                ax.axvline(0, color="k", lw=0.6, ls=":")
            else:
                ax.plot(draws[:, idx[c]], draws[:, idx[r]], ".", ms=1, alpha=0.25, color="C0")
            if r == k - 1:
                ax.set_xlabel(f"θ[{names[c]}]", fontsize=8)
            if c == 0 and r > 0:
                ax.set_ylabel(f"θ[{names[r]}]", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"posterior ({getattr(post, 'method', 'laplace')})", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def spectrum(lap, path) -> Path:
    """Posterior sd along every eigen-direction of the likelihood curvature (log scale), best
    determined first; undetermined directions drawn at the top in red, each labelled with its
    largest coefficient loading."""
    dirs = lap.identifiable_directions(terms=1)
    sd = np.array([d["sd"] for d in dirs])
    finite = np.isfinite(sd)
    top = np.nanmax(sd[finite]) * 10 if finite.any() else 1.0
    fig, ax = plt.subplots(figsize=(max(4.0, 0.28 * len(dirs) + 2), 3.4))
    ax.bar(np.arange(len(dirs)), np.where(finite, sd, top), color=np.where(finite, "C0", "C3"))
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(dirs)))
    ax.set_xticklabels([d["direction"].split("·")[-1] for d in dirs], rotation=90, fontsize=6)
    ax.set_ylabel("posterior sd along the direction")
    ax.set_title(f"curvature spectrum: condition number {lap.condition_number:.3g}; "
                 f"{int(lap.determined.sum())}/{len(dirs)} determined", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sign_probabilities(posts: list, path) -> Path:
    """``P(θ > 0)`` of every coefficient (columns) for every subject (rows), as a heat map —
    which subjects' data decide a sign and which leave it open (0.5)."""
    names = list(posts[0].names)
    p = np.array([[post.sign_probability(n) for n in names] for post in posts])
    fig, ax = plt.subplots(figsize=(0.8 * len(names) + 2.5, 0.25 * len(posts) + 1.6))
    im = ax.imshow(p, cmap="coolwarm", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=45, fontsize=7)
    ax.set_yticks(np.arange(len(posts)))
    ax.set_yticklabels([str(i) for i in range(len(posts))], fontsize=6)
    ax.set_ylabel("subject")
    fig.colorbar(im, ax=ax, label="P(θ > 0 | data)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
