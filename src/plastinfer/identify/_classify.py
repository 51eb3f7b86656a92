"""Classifiers that tell learning rules apart from observable trajectories (Nayebi et al.
2020, §4 and B.2), and the splits they are scored on.

- :func:`feature_matrix`: one example per (network, layer) — the concatenated trajectories
  of the chosen measures' statistics, plus the one-hot layer position; statistics that are
  non-finite anywhere in the population are dropped (as the paper does);
- :func:`make_classifier`: ``"svm"`` (standardise → optional PCA → a linear-kernel ``SVC``; PCA's use
  and size chosen in cross-validation), ``"random_forest"``, or ``"conv1d"`` (a 1-D
  convolution over the trajectory, ReLU, optional pooling, a linear read-out; JAX/equinox);
  each wrapped in a 5-fold stratified grid search;
- :func:`score_splits`: ten category-balanced 75 / 25 % train / test splits — per layer
  (the paper's: layers of one network can land on both sides) or grouped by network —
  with accuracy and the confusion matrix per split;
- :func:`score_holdouts`: train on every level of a factor but one, test on that one.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..errors import ConfigError
from ._learners import RULES
from ._population import Population

MEASURE_PREFIXES = {"weight": "weight_", "act": "act_", "gradavg": "gradavg_", "gradavg_rule": "gradavg_rule_"}
CLASSIFIERS = ("svm", "random_forest", "conv1d")
SVM_MAX_ITER = 1_000_000  # libsvm iterations per fit (see make_classifier)
POSITIONS = ("early", "middle", "deep")


@dataclasses.dataclass(frozen=True)
class Features:
    """``X (examples, n_checkpoints · n_stats + 3)``; ``y`` rule index into ``labels``;
    ``groups`` network ids; ``names`` the statistics used (each repeated over checkpoints,
    checkpoint-major); ``n_checkpoints``."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    names: list[str]
    n_checkpoints: int
    labels: tuple[str, ...] = RULES


def _measure_of(name: str) -> str:
    return "gradavg_rule" if name.startswith("gradavg_rule_") else name.split("_")[0]


def feature_matrix(pop: Population, measures: Sequence[str] = ("weight", "act", "gradavg"),
                   checkpoints: Sequence[int] | np.ndarray | None = None, rows: np.ndarray | None = None) -> Features:
    """The examples of ``pop`` (optionally only ``rows``, a boolean mask) using the statistics
    of ``measures`` at ``checkpoints`` (default: all): one list for every example, or an
    ``(examples, n)`` array of per-example checkpoints (see :func:`subsample_trajectory`).
    ``gradavg`` is the true layer-wise activity change, ``gradavg_rule`` the one through the
    rule's backward path."""
    bad = [m for m in measures if m not in MEASURE_PREFIXES]
    if bad or not measures:
        raise ConfigError(f"unknown measures {bad}; choose from {list(MEASURE_PREFIXES)}")
    keep = pop.finite_features() & np.array([_measure_of(n) in measures for n in pop.feature_names])
    if not keep.any():
        raise ConfigError(f"no finite statistics for measures {list(measures)}")
    rows = np.ones(pop.n_rows, bool) if rows is None else np.asarray(rows, bool)
    n_ck = pop.features.shape[1]
    ck = np.arange(n_ck) if checkpoints is None else np.asarray(checkpoints, int)
    if ck.size == 0 or ck.min() < 0 or ck.max() >= n_ck:
        raise ConfigError(f"checkpoints must be non-empty indices in [0, {n_ck})")
    f = pop.features[rows][:, :, keep]
    if ck.ndim == 2:
        if ck.shape[0] != f.shape[0]:
            raise ConfigError(f"per-example checkpoints: {ck.shape[0]} rows for {f.shape[0]} examples")
        f = np.take_along_axis(f, ck[:, :, None], axis=1)
    else:
        f = f[:, ck]
    ck = ck[0] if ck.ndim == 2 else ck
    pos = np.stack([pop.factors["position"][rows] == p for p in POSITIONS], axis=1).astype(np.float32)
    X = np.concatenate([f.reshape(f.shape[0], -1), pos], axis=1)
    y = np.array([RULES.index(r) for r in pop.factors["rule"][rows]])
    return Features(X, y, pop.factors["network"][rows], [n for n, k in zip(pop.feature_names, keep) if k], len(ck))


def subsample_trajectory(n_examples: int, n_checkpoints: int, n_samples: int, period: int, seed: int = 0) -> np.ndarray:
    """Per-example checkpoints for trajectory subsampling (Nayebi et al. B.3.1): ``n_samples``
    checkpoints ``period`` apart, from a start drawn uniformly (one draw per example) among
    those that keep the last sample inside the trajectory. ``(n_examples, n_samples)`` ints.

    With 21 checkpoints 5 epochs apart, the paper's dense / intermediate / sparse periods of
    5 / 15 / 25 epochs are ``period`` = 1 / 3 / 5."""
    span = (n_samples - 1) * period
    if n_samples < 1 or period < 1 or span >= n_checkpoints:
        raise ConfigError(f"{n_samples} samples {period} apart do not fit in {n_checkpoints} checkpoints")
    start = np.random.default_rng(seed).integers(0, n_checkpoints - span, size=n_examples)
    return start[:, None] + period * np.arange(n_samples)[None, :]


class Conv1DClassifier(ClassifierMixin, BaseEstimator):
    """A 1-D convolution over the trajectory axis (channels = statistics), ReLU, optional
    max / average pooling over time, and a linear read-out to the classes, trained with Adam
    on the cross-entropy (+ L2) — the paper's "Conv1D MLP" (B.2), in JAX/equinox.

    Input: rows of :class:`Features` ``X`` (the trajectory block is reshaped to
    ``(n_checkpoints, n_stats)``; the position one-hot joins the read-out)."""

    def __init__(self, n_checkpoints: int = 21, filters: int = 20, kernel_frac: float = 0.25, stride: int = 1,
                 pool: str | None = None, learning_rate: float = 1e-3, batch_size: int = 512, epochs: int = 200,
                 l2: float = 0.0, seed: int = 0):
        self.n_checkpoints, self.filters, self.kernel_frac, self.stride = n_checkpoints, filters, kernel_frac, stride
        self.pool, self.learning_rate, self.batch_size, self.epochs = pool, learning_rate, batch_size, epochs
        self.l2, self.seed = l2, seed

    def _split(self, X):
        X = np.asarray(X, np.float32)
        traj, pos = X[:, :-3], X[:, -3:]
        return traj.reshape(X.shape[0], self.n_checkpoints, -1), pos

    def _settings(self) -> tuple:
        return (self.n_checkpoints, self.filters, self.kernel_frac, self.stride, self.pool)

    def _model(self, n_stats, n_classes, key):
        return _conv_model(self._settings(), n_stats, n_classes, key)

    def _logits(self, model, traj, pos):
        return _conv_logits(model, traj, pos, self.pool)

    def fit(self, X, y):
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        traj, pos = self._split(X)
        self.classes_ = np.unique(y)
        yi = np.searchsorted(self.classes_, y)
        self.mu_, self.sd_ = traj.mean(axis=0), traj.std(axis=0) + 1e-6
        traj = (traj - self.mu_) / self.sd_
        model = self._model(traj.shape[2], len(self.classes_), jax.random.PRNGKey(self.seed))
        n = len(yi)
        bs = min(self.batch_size, n)
        init, epoch = _conv_trainer(self._settings(), traj.shape[2], len(self.classes_), n, bs,
                                    float(self.learning_rate), float(self.l2))
        params, static = eqx.partition(model, eqx.is_inexact_array)
        state = init(params)
        traj, pos, yi = jnp.asarray(traj), jnp.asarray(pos), jnp.asarray(yi)
        for k in jax.random.split(jax.random.PRNGKey(self.seed), self.epochs):
            params, state = epoch(params, state, traj, pos, yi, k)
        self.model_ = eqx.combine(params, static)
        return self

    def predict(self, X):
        traj, pos = self._split(X)
        logits = np.asarray(self._logits(self.model_, (traj - self.mu_) / self.sd_, pos))
        return self.classes_[np.argmax(logits, axis=1)]


def _conv_model(settings: tuple, n_stats: int, n_classes: int, key):
    """The Conv1D classifier's (convolution, read-out) for ``settings`` = (n_checkpoints,
    filters, kernel_frac, stride, pool)."""
    import equinox as eqx
    import jax

    n_ck, filters, kernel_frac, stride, pool = settings
    k1, k2 = jax.random.split(key)
    k = max(1, int(round(kernel_frac * n_ck)))
    conv = eqx.nn.Conv1d(n_stats, filters, k, stride=stride, key=k1)
    t_out = (n_ck - k) // stride + 1
    n_flat = filters * (1 if pool else t_out) + 3
    return conv, eqx.nn.Linear(n_flat, n_classes, key=k2)


def _conv_logits(model, traj, pos, pool):
    """Logits ``(n, classes)`` of trajectories ``traj (n, T, stats)`` and positions ``pos (n, 3)``."""
    import jax
    import jax.numpy as jnp

    conv, lin = model

    def one(t, p):
        h = jax.nn.relu(conv(t.T))  # (filters, T')
        if pool == "max":
            h = jnp.max(h, axis=1)
        elif pool == "avg":
            h = jnp.mean(h, axis=1)
        return lin(jnp.concatenate([h.ravel(), p]))

    return jax.vmap(one)(traj, pos)


@functools.lru_cache(maxsize=32)
def _conv_trainer(settings: tuple, n_stats: int, n_classes: int, n: int, bs: int, learning_rate: float, l2: float):
    """``(init, epoch)`` of Adam on the cross-entropy (+ ``l2``·Σw²) for one model shape and
    training-set size, compiled once and shared by every fit of that shape (a grid search's
    folds, a study's splits). ``epoch(params, opt_state, traj, pos, y, key)``: one pass in a
    random order, ``n // bs`` mini-batches.

    The epoch's few mini-batches are unrolled and the epochs are a Python loop: XLA on the
    CPU runs a convolution inside a loop body ~9× slower (55 vs 5.8 ms per update on the
    default population), so neither the batches nor the epochs are a ``lax.scan``."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    pool = settings[4]
    static = eqx.partition(_conv_model(settings, n_stats, n_classes, jax.random.PRNGKey(0)), eqx.is_inexact_array)[1]
    opt = optax.adam(learning_rate)
    n_b = n // bs

    def loss(p, tb, pb, yb):
        m = eqx.combine(p, static)
        ce = optax.softmax_cross_entropy_with_integer_labels(_conv_logits(m, tb, pb, pool), yb).mean()
        return ce + l2 * sum(jnp.sum(w ** 2) for w in jax.tree_util.tree_leaves(p))

    @jax.jit
    def epoch(params, state, traj, pos, yi, k):
        order = jax.random.permutation(k, n)[: n_b * bs].reshape(n_b, bs)

        def step(carry, b):
            params, state = carry
            g = jax.grad(loss)(params, traj[b], pos[b], yi[b])
            upd, state = opt.update(g, state, params)
            return (optax.apply_updates(params, upd), state), None

        return jax.lax.scan(step, (params, state), order, unroll=True)[0]

    return opt.init, epoch


#: cross-validation grids: ``"paper"`` — B.2's; ``"small"`` — a subset that runs in
#: seconds on 2 cores (the default of the reproductions' ``--quick``)
GRIDS = {
    "paper": {
        "svm": [{"pca": ["passthrough"], "svc__C": [1.0, 50, 500, 5e3, 5e4, 5e5, 5e6]},
                {"pca": [PCA(n) for n in (10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 600)],
                 "svc__C": [1.0, 50, 500, 5e3, 5e4, 5e5, 5e6]}],
        "random_forest": {"n_estimators": [20, 50, 100, 500, 1000], "max_features": ["sqrt", "log2", None]},
        "conv1d": {"learning_rate": [1e-3, 1e-4], "batch_size": [512, 1024], "kernel_frac": [3e-3, 7e-3, 5e-2, 0.25, 0.5, 1.0],
                   "stride": [1, 2, 4], "filters": [20, 40], "pool": [None, "max", "avg"], "l2": [1e-4, 0.0]},
    },
    "small": {
        # PCA only at C = 1: where PCA makes the classes overlap, C = 50 costs libsvm 30× the time
        "svm": [{"pca": ["passthrough"], "svc__C": [1.0, 50]}, {"pca": [PCA(20), PCA(200)], "svc__C": [1.0]}],
        "random_forest": {"n_estimators": [100], "max_features": ["sqrt", "log2"]},
        "conv1d": {"kernel_frac": [0.25], "filters": [20], "pool": [None, "avg"]},
    },
}


def make_classifier(name: str, grid: str = "small", n_checkpoints: int = 21, cv=None, seed: int = 0,
                    n_jobs: int | None = None):
    """A grid-searched classifier (5-fold stratified CV unless ``cv`` is given); with
    ``grid="none"`` the bare estimator with default settings (no CV)."""
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}; choose from {list(CLASSIFIERS)}")
    if grid not in GRIDS and grid != "none":
        raise ConfigError(f"unknown grid {grid!r}; choose from {list(GRIDS) + ['none']}")
    if name == "svm":
        est = Pipeline([("scale", StandardScaler()), ("pca", "passthrough"),
                        # libsvm's linear kernel, not liblinear's LinearSVC: on the default population
                        # (1,944 × 948 training features) LinearSVC took 72 s at C = 1 and did not
                        # converge in 369 s at C = 50; SVC converges in 1.6 s / 5.2 s (accuracy 0.83 /
                        # 0.84). Where the classes overlap (after PCA to 20 dimensions: accuracy 0.48)
                        # libsvm's iterations grow with C (C = 50: 7·10⁷ iterations, 91 s), so they are
                        # capped at SVM_MAX_ITER (≈ 3 s) and such a grid point is scored as it stands
                        ("svc", SVC(kernel="linear", max_iter=SVM_MAX_ITER, random_state=seed))])
    elif name == "random_forest":
        est = RandomForestClassifier(random_state=seed, n_jobs=n_jobs)
    else:
        est = Conv1DClassifier(n_checkpoints=n_checkpoints, seed=seed, epochs=400)
    if grid == "none":
        return est
    cv = StratifiedKFold(5, shuffle=True, random_state=seed) if cv is None else cv
    # grid points that cannot fit this data (PCA wider than a small training fold) score NaN
    # and are passed over
    return GridSearchCV(est, GRIDS[grid][name], cv=cv, n_jobs=None if name == "conv1d" else n_jobs,
                        error_score=np.nan)


def _fit_score(clf, f: Features, train, test, f_test: Features | None = None) -> tuple[float, np.ndarray, object]:
    if isinstance(clf, GridSearchCV) and isinstance(clf.cv, StratifiedKFold):
        fewest = min(c for c in np.bincount(f.y[train]) if c > 0)
        if fewest < clf.cv.n_splits:  # a small training set: as many folds as the rarest rule allows
            clf.cv = StratifiedKFold(max(2, fewest), shuffle=True, random_state=clf.cv.random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)  # "some fits failed" / non-finite test scores
        clf.fit(f.X[train], f.y[train])
    pred = clf.predict((f if f_test is None else f_test).X[test])
    cm = confusion_matrix(f.y[test], pred, labels=np.arange(len(f.labels)))
    return float(np.mean(pred == f.y[test])), cm, clf


def _splits(f: Features, n_splits: int, grouped: bool, seed: int):
    """``(train, test, inner cv)`` index arrays of each category-balanced 75 / 25 % split."""
    for i in range(n_splits):
        if grouped:
            outer = StratifiedGroupKFold(4, shuffle=True, random_state=seed + i)
            train, test = next(outer.split(f.X, f.y, f.groups))
            cv = list(StratifiedGroupKFold(5, shuffle=True, random_state=seed + i).split(
                f.X[train], f.y[train], f.groups[train]))
        else:
            train, test = next(StratifiedShuffleSplit(1, test_size=0.25, random_state=seed + i).split(f.X, f.y))
            cv = None
        yield train, test, cv


def score_splits(f: Features, classifier: str = "random_forest", *, n_splits: int = 10, grouped: bool = False,
                 grid: str = "small", seed: int = 0, n_jobs: int | None = None,
                 test_features: Features | None = None) -> dict:
    """Test accuracy over ``n_splits`` category-balanced 75 / 25 % splits. ``grouped``: all
    layers of a network fall on the same side (and the inner CV is grouped too).
    ``test_features``: the same examples measured otherwise (e.g. another third of the
    trajectory, Fig. 4b): the classifier trains on ``f``'s training rows and is tested on
    ``test_features``' test rows.

    Returns ``{"accuracy": (n_splits,), "mean", "sem", "confusion": (K, K)`` (summed over
    splits; rows true rule, columns predicted), ``"best_params"``: per split}."""
    if test_features is not None and (test_features.X.shape[0] != f.X.shape[0]
                                      or not np.array_equal(test_features.y, f.y)):
        raise ConfigError("test_features must hold the same examples, in the same order, as the training features")
    accs, cms, best = [], [], []
    for i, (train, test, cv) in enumerate(_splits(f, n_splits, grouped, seed)):
        clf = make_classifier(classifier, grid, f.n_checkpoints, cv=cv, seed=seed + i, n_jobs=n_jobs)
        acc, cm, clf = _fit_score(clf, f, train, test, test_features)
        accs.append(acc)
        cms.append(cm)
        best.append({k: str(v) for k, v in getattr(clf, "best_params_", {}).items()})
    a = np.asarray(accs)
    mean, sem = _mean_sem(a)
    return {"accuracy": a, "mean": float(mean), "sem": float(sem), "confusion": np.sum(cms, axis=0), "best_params": best}


def score_each(features: Sequence[Features], classifier: str = "random_forest", *, seeds: Sequence[int] | None = None,
               n_jobs: int | None = None, **kwargs) -> Iterator[dict]:
    """:func:`score_splits` of each of many feature sets, in order, as a generator: the sets
    are spread over ``n_jobs`` worker processes (joblib), each classifier on one thread.
    For many small data sets (Fig. 5's 144 examples a recording) this beats a forest's own
    threads, which cost more than they save there: ten 100-tree forests on 108 × 441
    features took 0.96 s on one thread and 1.21 s on two. ``seeds``: one per set (default
    0 for all); ``kwargs`` go to :func:`score_splits`."""
    from joblib import Parallel, delayed

    seeds = [0] * len(features) if seeds is None else list(seeds)
    if len(seeds) != len(features):
        raise ConfigError(f"score_each: {len(seeds)} seeds for {len(features)} feature sets")
    jobs = (delayed(score_splits)(f, classifier, seed=s, n_jobs=1, **kwargs) for f, s in zip(features, seeds))
    yield from Parallel(n_jobs=n_jobs, return_as="generator")(jobs)


def score_holdouts(f: Features, levels: np.ndarray, classifier: str = "random_forest", *, grid: str = "small",
                   seed: int = 0, n_jobs: int | None = None) -> dict[str, float]:
    """Accuracy on each level of a factor (``levels``: one value per example) when the
    classifier is trained on all other levels."""
    out: dict[str, float] = {}
    if len(np.unique(levels)) < 2:  # nothing to train on when a level is held out
        return out
    for level in np.unique(levels):
        test = levels == level
        clf = make_classifier(classifier, grid, f.n_checkpoints, seed=seed, n_jobs=n_jobs)
        out[str(level)] = _fit_score(clf, f, np.where(~test)[0], np.where(test)[0])[0]
    return out


def feature_groups(f: Features) -> dict[str, np.ndarray]:
    """Columns of ``f.X`` that belong to one observable statistic (its value at every
    checkpoint; the layout is checkpoint-major) and to each layer-position indicator."""
    n_stats = len(f.names)
    groups = {name: np.arange(f.n_checkpoints) * n_stats + j for j, name in enumerate(f.names)}
    base = f.n_checkpoints * n_stats
    groups.update({f"position_{p}": np.array([base + k]) for k, p in enumerate(POSITIONS)})
    return groups


def _mean_sem(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sem = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros(a.shape[1:])
    return a.mean(axis=0), sem


def rf_importances(f: Features, *, n_splits: int = 10, grid: str = "small", n_repeats: int = 5, seed: int = 0,
                   n_jobs: int | None = None) -> dict:
    r"""Importances of each observable statistic for the random forest (Nayebi et al. Fig. 3).

    - **Gini** (mean decrease in impurity): each tree's normalised importances, summed over
      a statistic's columns (its whole trajectory), :math:`I_s = \sum_c I_{(c, s)}`; mean and
      s.e.m. over the trees of every split's forest (the paper's error bars);
    - **permutation** (the check the paper suggests, since Gini favours continuous,
      high-cardinality features): on each split's test set, the drop in accuracy when a
      statistic's trajectory (all its checkpoints together) is shuffled across test
      examples; mean and s.e.m. over splits × ``n_repeats`` shuffles.

    Returns ``{"names": [statistics..., position_early/middle/deep], "gini_mean", "gini_sem",
    "permutation_mean", "permutation_sem": (n_groups,), "accuracy": (n_splits,)}``."""
    groups = feature_groups(f)
    rng = np.random.default_rng(seed)
    gini, perm, accs = [], [], []
    for i, (train, test, _) in enumerate(_splits(f, n_splits, False, seed)):
        clf = make_classifier("random_forest", grid, f.n_checkpoints, seed=seed + i, n_jobs=n_jobs)
        acc, _, clf = _fit_score(clf, f, train, test)
        forest = getattr(clf, "best_estimator_", clf)
        per_tree = np.stack([t.feature_importances_ for t in forest.estimators_])  # (trees, columns)
        gini.append(np.stack([per_tree[:, idx].sum(axis=1) for idx in groups.values()], axis=1))
        x_test, y_test = f.X[test], f.y[test]
        drops = np.zeros((n_repeats, len(groups)))
        for r in range(n_repeats):
            for g, idx in enumerate(groups.values()):
                shuffled = x_test.copy()
                shuffled[:, idx] = x_test[rng.permutation(len(y_test))][:, idx]
                drops[r, g] = acc - np.mean(forest.predict(shuffled) == y_test)
        perm.append(drops)
        accs.append(acc)
    g_mean, g_sem = _mean_sem(np.concatenate(gini))
    p_mean, p_sem = _mean_sem(np.concatenate(perm))
    return {"names": list(groups), "gini_mean": g_mean, "gini_sem": g_sem, "permutation_mean": p_mean,
            "permutation_sem": p_sem, "accuracy": np.asarray(accs)}
