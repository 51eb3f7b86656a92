"""Tasks for the learners of the identification study, all from data that install offline.

Each task is a fixed train / validation split (75 / 25 %, split seed 0) with inputs
standardised by the training statistics:

- ``digits``, ``wine``, ``breast_cancer``: scikit-learn's bundled data sets, supervised
  classification (cross-entropy);
- ``mnist1d``: the ``mnist1d`` package's procedurally generated data set (Greydanus 2020;
  4,000 + 1,000 signals of length 40, 10 classes), generated in memory;
- ``digits_contrastive``: self-supervised contrastive learning on ``digits`` (a SimCLR-
  style NT-Xent loss between two augmentations — a random shift of up to one pixel and
  Gaussian noise — of each image, temperature 0.5, 16-dimensional embedding);
- ``teacher_student``: regression (mean squared error) onto a fixed random teacher, a
  ``tanh`` MLP 20 → 30 → 5 on Gaussian inputs.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError

TASKS = ("digits", "wine", "breast_cancer", "mnist1d", "digits_contrastive", "teacher_student")


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """A task's data. ``x_*``: ``(n, *input_shape)`` float32; ``y_*``: int labels
    ``(n,)`` (classification), targets ``(n, n_out)`` (regression) or unused zeros
    (contrastive). ``loss``: ``"xent"``, ``"mse"`` or ``"contrastive"``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    loss: str
    n_out: int
    input_shape: tuple[int, ...]

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


def _split(x, y, seed: int = 0, frac: float = 0.75):
    order = np.random.default_rng(seed).permutation(len(x))
    n = int(round(frac * len(x)))
    tr, va = order[:n], order[n:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    return ((x[tr] - mu) / sd).astype(np.float32), y[tr], ((x[va] - mu) / sd).astype(np.float32), y[va]


def _mnist1d():
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # a declared dependency; say so rather than fail obscurely
        raise ConfigError("task 'mnist1d' needs the mnist1d package (pip install mnist1d)") from e
    state = np.random.get_state()  # make_dataset seeds numpy's global generator; leave it as it was
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int32)
    return x, y


@functools.lru_cache(maxsize=None)
def load_task(name: str) -> Task:
    """The task called ``name`` (one of :data:`TASKS`); cached per process."""
    from sklearn import datasets

    if name in ("digits", "digits_contrastive"):
        d = datasets.load_digits()
        xtr, ytr, xva, yva = _split(d.data.astype(np.float32), d.target.astype(np.int32))
        shape = (8, 8, 1)
        xtr, xva = xtr.reshape((-1,) + shape), xva.reshape((-1,) + shape)
        if name == "digits":
            return Task(name, xtr, ytr, xva, yva, "xent", 10, shape)
        return Task(name, xtr, np.zeros(len(xtr), np.int32), xva, np.zeros(len(xva), np.int32), "contrastive", 16,
                    shape)
    if name in ("wine", "breast_cancer"):
        d = getattr(datasets, f"load_{name}")()
        xtr, ytr, xva, yva = _split(d.data.astype(np.float32), d.target.astype(np.int32))
        return Task(name, xtr, ytr, xva, yva, "xent", int(d.target.max()) + 1, (xtr.shape[1],))
    if name == "mnist1d":
        x, y = _mnist1d()
        xtr, ytr, xva, yva = _split(x, y)
        return Task(name, xtr[..., None], ytr, xva[..., None], yva, "xent", 10, (40, 1))
    if name == "teacher_student":
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2500, 20)).astype(np.float32)
        w1 = rng.standard_normal((20, 30)) / np.sqrt(20)
        w2 = rng.standard_normal((30, 5)) / np.sqrt(30)
        y = (np.tanh(x @ w1) @ w2).astype(np.float32)
        return Task(name, x[:2000], y[:2000], x[2000:], y[2000:], "mse", 5, (20,))
    raise ConfigError(f"unknown task {name!r}; choose from {list(TASKS)}")


def augment(key: jax.Array, x: jax.Array) -> jax.Array:
    """One random view of images ``x (n, H, W, C)``: a shift of −1, 0 or +1 pixel along each
    spatial axis (wrapping) and additive Gaussian noise of standard deviation 0.1."""
    k1, k3 = jax.random.split(key)
    sh = jax.random.randint(k1, (2,), -1, 2)
    x = jnp.roll(jnp.roll(x, sh[0], axis=1), sh[1], axis=2)
    return x + 0.1 * jax.random.normal(k3, x.shape)


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float = 0.5, mask: jax.Array | None = None) -> jax.Array:
    r"""SimCLR's normalised-temperature cross-entropy between two views ``(n, d)``: for each of
    the ``2n`` embeddings the positive is its other view and the ``2n − 2`` others are negatives,

    .. math:: ℓ = −\frac{1}{2n} \sum_i \log \frac{e^{s(z_i, z_i^+)/τ}}{\sum_{k≠i} e^{s(z_i, z_k)/τ}}

    with cosine similarity ``s``. ``mask (n,)``: only these pairs count, as anchors and as
    negatives (a batch padded to a common width)."""
    n = z1.shape[0]
    m = jnp.ones(n, bool) if mask is None else mask.astype(bool)
    m2 = jnp.concatenate([m, m])
    z = jnp.concatenate([z1, z2])
    z = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
    sim = z @ z.T / temperature
    sim = jnp.where(jnp.eye(2 * n, dtype=bool) | ~m2[None, :], -jnp.inf, sim)
    pos = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    logp = jnp.take_along_axis(jax.nn.log_softmax(sim, axis=1), pos[:, None], axis=1)[:, 0]
    return -jnp.sum(jnp.where(m2, logp, 0.0)) / jnp.sum(m2)
