r"""Small networks trained with four learning rules (Nayebi et al. 2020; Kunin et al. 2020).

Every layer is linear in its forward weights, ``y = f_W(x) + b`` (a dense layer
``y = W x + b`` with ``W (out, in)``, or a convolution with kernel ``W``), followed by a
ReLU except at the output. Each layer also holds a *backward* matrix ``B`` that carries the
error in place of ``Wᵀ``:

.. math:: δx = g_B(δy) \quad (\text{dense: } δx = B\,δy,\ B \in ℝ^{in×out};\ \text{conv: the transposed convolution with kernel } B),

while the forward update stays ``ΔW ∝ δy xᵀ`` (the usual weight gradient). The rules:

- ``sgdm``: backpropagation (``B`` unused), SGD with Nesterov momentum 0.9;
- ``adam``: backpropagation, Adam;
- ``fa`` (feedback alignment, Lillicrap et al. 2016): ``B`` fixed at its random
  initialisation; Adam on the resulting pseudo-gradient (as Nayebi et al. do);
- ``ia`` (information alignment, Kunin et al. 2020): ``B`` learned by the local regulariser

  .. math:: R = α\,\mathrm{amp} + β\,\mathrm{null} + γ\,\mathrm{decay}, \quad
     \mathrm{amp} = −E[xᵀ B W x],\ \mathrm{null} = E\lVert B W x\rVert^2,\ \mathrm{decay} = \lVert W\rVert^2 + \lVert B\rVert^2

  with ``x``, ``W`` held fixed inside ``R`` (only ``B`` gets its gradient; for a conv layer
  ``B W x`` is ``g_B(f_W(x))``); SGD with Nesterov momentum, like SGDM.

The total loss is the task loss + ``weight_decay``·Σ‖W‖² + ``alignment_rate``·Σ_layers R
(the last term only for ``ia``). A run trains for ``steps`` mini-batch updates and records
the parameters at ``n_checkpoints`` evenly spaced steps, the first at initialisation.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import ConfigError
from ._tasks import Task, augment, load_task, nt_xent

RULES = ("sgdm", "adam", "fa", "ia")

#: architecture name → (kind, hidden sizes): MLP widths or CNN channel counts (3 × 3 kernels
#: on images, 5-tap kernels on sequences, stride 2, SAME padding; then a dense output layer)
ARCHITECTURES: dict[str, tuple[str, tuple[int, ...]]] = {
    "mlp1x64": ("mlp", (64,)),
    "mlp2x32": ("mlp", (32, 32)),
    "mlp3x32": ("mlp", (32, 32, 32)),
    "mlp2x128": ("mlp", (128, 128)),
    "cnn2": ("cnn", (8, 16)),
}


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """One network of the population: its rule and the factors it varies over.

    ``lr=None`` takes the rule's default: 0.05 × batch_size / 64 for ``sgdm`` and ``ia``
    (the paper's linear rescaling with batch size), 1e-3 for ``adam`` and ``fa``.
    ``alpha``, ``beta``, ``gamma``: the IA regulariser's weights (Kunin et al.'s defaults);
    ``alignment_rate``: its weight in the total loss.
    """

    rule: str
    arch: str = "mlp2x32"
    task: str = "digits"
    batch_size: int = 32
    model_seed: int = 0
    data_seed: int = 0
    steps: int = 600
    n_checkpoints: int = 21
    lr: float | None = None
    weight_decay: float = 1e-4
    alignment_rate: float = 1.0
    clip: float | None = 1.0
    alpha: float = 2e-3
    beta: float = 1e-3
    gamma: float = 1e-3

    def __post_init__(self):
        if self.rule not in RULES:
            raise ConfigError(f"unknown learning rule {self.rule!r}; choose from {list(RULES)}")
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.arch!r}; choose from {sorted(ARCHITECTURES)}")
        if self.batch_size < 2 or self.steps < 1 or self.n_checkpoints < 2:
            raise ConfigError("learner: batch_size ≥ 2, steps ≥ 1 and n_checkpoints ≥ 2 required")
        if (self.steps % (self.n_checkpoints - 1)) != 0:
            raise ConfigError(f"learner: steps ({self.steps}) must be a multiple of n_checkpoints − 1 "
                              f"({self.n_checkpoints - 1})")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 0.05 * self.batch_size / 64 if self.rule in ("sgdm", "ia") else 1e-3


# ----------------------------------------------------------------------------- layers
@dataclasses.dataclass(frozen=True)
class Layer:
    """Static description of one layer: ``kind`` ``"dense"`` or ``"conv"``, the forward
    weight's shape, conv stride, whether a ReLU follows, and where it sits (``position``:
    ``"early"``, ``"middle"`` or ``"deep"`` — which third of the network's layers it is in)."""

    kind: str
    w_shape: tuple[int, ...]
    relu: bool
    position: str
    stride: int = 1


def _conv(x, w, stride):
    nd = x.ndim - 2
    dn = ("NHWC", "HWIO", "NHWC") if nd == 2 else ("NWC", "WIO", "NWC")
    return jax.lax.conv_general_dilated(x, w, (stride,) * nd, "SAME", dimension_numbers=dn)


def _forward_linear(layer: Layer, x, w):
    """``f_W(x)``: ``x Wᵀ`` for a dense layer (rows are examples), the convolution otherwise."""
    return x @ w.T if layer.kind == "dense" else _conv(x, w, layer.stride)


def _backward_linear(layer: Layer, x, b_mat, dy):
    """``g_B(δy)``: ``δy Bᵀ`` (i.e. ``δx = B δy`` per example) for a dense layer; for a conv
    layer the transposed convolution with kernel ``B`` (the input-gradient of ``conv(·, B)``)."""
    if layer.kind == "dense":
        return dy @ b_mat.T
    _, vjp = jax.vjp(lambda xx: _conv(xx, b_mat, layer.stride), x)
    return vjp(dy)[0]


def transport(layer: Layer, w):
    """The backward matrix that makes the rule's backward pass equal backprop: ``Wᵀ`` for a
    dense layer, the kernel itself for a conv layer."""
    return w.T if layer.kind == "dense" else w


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _rule_linear(layer: Layer, x, w, b_mat):
    return _forward_linear(layer, x, w)


def _rule_linear_fwd(layer, x, w, b_mat):
    return _forward_linear(layer, x, w), (x, w, b_mat)


def _rule_linear_bwd(layer, res, dy):
    x, w, b_mat = res
    _, vjp_w = jax.vjp(lambda ww: _forward_linear(layer, x, ww), w)
    return _backward_linear(layer, x, b_mat, dy), vjp_w(dy)[0], jnp.zeros_like(b_mat)


_rule_linear.defvjp(_rule_linear_fwd, _rule_linear_bwd)


def layers_for(arch: str, input_shape: tuple[int, ...], n_out: int) -> tuple[Layer, ...]:
    """The layers of architecture ``arch`` on inputs of ``input_shape`` with ``n_out`` outputs."""
    kind, hidden = ARCHITECTURES[arch]
    specs: list[tuple[str, tuple[int, ...], bool, int]] = []
    if kind == "mlp":
        n = int(np.prod(input_shape))
        for h in hidden:
            specs.append(("dense", (h, n), True, 1))
            n = h
        specs.append(("dense", (n_out, n), False, 1))
    else:
        spatial, c = tuple(input_shape[:-1]), input_shape[-1]
        if len(spatial) not in (1, 2):
            raise ConfigError(f"architecture {arch!r} needs image (H, W, C) or sequence (L, C) inputs, got {input_shape}")
        k = (3, 3) if len(spatial) == 2 else (5,)
        for ch in hidden:
            specs.append(("conv", k + (c, ch), True, 2))
            spatial, c = tuple(-(-s // 2) for s in spatial), ch
        specs.append(("dense", (n_out, int(np.prod(spatial)) * c), False, 1))
    n_layers = len(specs)
    pos = lambda i: ("early", "middle", "deep")[min(2, 3 * i // n_layers)]  # noqa: E731
    return tuple(Layer(kd, shape, relu, pos(i), stride) for i, (kd, shape, relu, stride) in enumerate(specs))


def init_params(layers: tuple[Layer, ...], key: jax.Array) -> list[dict]:
    """He-normal forward weights, zero biases, and an independent He-normal ``B`` (the
    random feedback of FA) with the shape of ``transport(W)``."""
    params = []
    for layer, k in zip(layers, jax.random.split(key, len(layers))):
        kw, kb = jax.random.split(k)
        fan_in = int(np.prod(layer.w_shape[1:])) if layer.kind == "dense" else int(np.prod(layer.w_shape[:-1]))
        std = np.sqrt(2.0 / fan_in)
        w = std * jax.random.normal(kw, layer.w_shape)
        b_shape = transport(layer, w).shape
        params.append({"W": w, "b": jnp.zeros(layer.w_shape[0] if layer.kind == "dense" else layer.w_shape[-1]),
                       "B": std * jax.random.normal(kb, b_shape)})
    return params


def apply_layer(layer: Layer, p: dict, x, path="true"):
    """One layer's output. ``path="true"``: ordinary autodiff (the backward pass uses ``W``);
    ``path="rule"``: the backward pass carries the error through ``B``. ``path`` may also be
    a traced boolean (``True`` = through ``B``); ``False`` then still goes through the
    custom backward pass, with ``B`` replaced by ``transport(W)`` — exactly backprop."""
    if layer.kind == "dense" and x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if isinstance(path, str):
        if path not in ("true", "rule"):
            raise ValueError(f"path must be 'true' or 'rule', got {path!r}")
        lin = _forward_linear(layer, x, p["W"]) if path == "true" else _rule_linear(layer, x, p["W"], p["B"])
    else:
        b_eff = jnp.where(path, p["B"], transport(layer, jax.lax.stop_gradient(p["W"])))
        lin = _rule_linear(layer, x, p["W"], b_eff)
    y = lin + p["b"]
    return jax.nn.relu(y) if layer.relu else y


def forward(layers, params, x, path="true"):
    """``(output, inputs)``: the network's output and each layer's input (for the IA
    regulariser and the observables)."""
    inputs = []
    for layer, p in zip(layers, params):
        if layer.kind == "dense" and x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        inputs.append(x)
        x = apply_layer(layer, p, x, path)
    return x, inputs


def ia_regulariser(layer: Layer, p: dict, x, alpha: float, beta: float, gamma: float, mask=None):
    """``R = α amp + β null + γ decay`` of one layer for its inputs ``x`` (batch first), with
    ``x`` and ``W`` treated as constants (``stop_gradient``); ``mask`` (batch,) selects the
    examples that count."""
    x, w = jax.lax.stop_gradient(x), jax.lax.stop_gradient(p["W"])
    b_mat = p["B"]
    back = _backward_linear(layer, x, b_mat, _forward_linear(layer, x, w))  # B W x, per example
    m = jnp.ones(x.shape[0]) if mask is None else mask.astype(x.dtype)
    per = lambda a: jnp.sum(a.reshape(a.shape[0], -1), axis=1)  # noqa: E731
    n = jnp.sum(m)
    amp = -jnp.sum(m * per(x * back)) / n
    null = jnp.sum(m * per(back ** 2)) / n
    decay = jnp.sum(w ** 2) + jnp.sum(b_mat ** 2)
    return alpha * amp + beta * null + gamma * decay


def _task_loss(task: Task, out, y, mask, out2=None):
    if task.loss == "contrastive":
        return nt_xent(out, out2, mask=mask)
    if task.loss == "xent":
        per = optax.softmax_cross_entropy_with_integer_labels(out, y)
    else:
        per = jnp.mean((out - y) ** 2, axis=-1)
    return jnp.sum(mask * per) / jnp.sum(mask)


def _flags(rule) -> tuple:
    """``(through B, IA regulariser, SGD-momentum)`` for a rule name or a traced rule index."""
    if isinstance(rule, str):
        rule = RULES.index(rule)
    r = jnp.asarray(rule)
    return r >= 2, r == 3, (r == 0) | (r == 3)


def loss_fn(params, layers, task: Task, cfg: LearnerConfig, xb, yb, key, rule=None, mask=None):
    """Total loss of one mini-batch; its gradient is the rule's update direction. ``rule``
    (a name or a traced index into :data:`RULES`; default ``cfg.rule``) and ``mask`` (which
    of the batch rows count; default all) let one compiled function serve every rule and
    batch size."""
    use_b, ia, _ = _flags(cfg.rule if rule is None else rule)
    mask = jnp.ones(xb.shape[0]) if mask is None else mask.astype(jnp.float32)
    if task.loss == "contrastive":
        k1, k2 = jax.random.split(key)
        out, inputs = forward(layers, params, augment(k1, xb), use_b)
        out2, _ = forward(layers, params, augment(k2, xb), use_b)
        loss = _task_loss(task, out, yb, mask, out2=out2)
    else:
        out, inputs = forward(layers, params, xb, use_b)
        loss = _task_loss(task, out, yb, mask)
    loss = loss + cfg.weight_decay * sum(jnp.sum(p["W"] ** 2) for p in params)
    reg = sum(ia_regulariser(layer, p, x, cfg.alpha, cfg.beta, cfg.gamma, mask)
              for layer, p, x in zip(layers, params, inputs))
    return loss + jnp.where(ia, cfg.alignment_rate, 0.0) * reg


def _unit_optimisers(cfg: LearnerConfig):
    """Clipping, then SGD with Nesterov momentum 0.9 and Adam, both with unit step size (the
    run's learning rate multiplies the update)."""
    clip = optax.clip_by_global_norm(cfg.clip) if cfg.clip else optax.identity()
    return (optax.chain(clip, optax.sgd(1.0, momentum=0.9, nesterov=True)), optax.chain(clip, optax.adam(1.0)))


def performance(layers, params, task: Task, key) -> jax.Array:
    """``[validation loss, validation accuracy]`` (accuracy NaN for non-classification)."""
    x, y = jnp.asarray(task.x_val), jnp.asarray(task.y_val)
    mask = jnp.ones(x.shape[0])
    if task.loss == "contrastive":
        k1, k2 = jax.random.split(key)
        loss = nt_xent(forward(layers, params, augment(k1, x))[0], forward(layers, params, augment(k2, x))[0])
        return jnp.stack([loss, jnp.nan])
    out = forward(layers, params, x)[0]
    loss = _task_loss(task, out, y, mask)
    acc = jnp.mean(jnp.argmax(out, -1) == y) if task.loss == "xent" else jnp.nan
    return jnp.stack([loss, acc])


def batch_order(task: Task, cfg: LearnerConfig, width: int | None = None) -> np.ndarray:
    """``(steps, width)`` training-example indices (``width`` ≥ batch size, default the
    batch size; columns past the batch size are padding): shuffled epochs from
    ``data_seed``."""
    rng = np.random.default_rng(1000 + cfg.data_seed)
    per_epoch = task.n_train // cfg.batch_size
    if per_epoch < 1:
        raise ConfigError(f"batch_size {cfg.batch_size} exceeds the {task.n_train} training examples of {task.name!r}")
    epochs = -(-cfg.steps // per_epoch)
    idx = np.concatenate([rng.permutation(task.n_train)[: per_epoch * cfg.batch_size] for _ in range(epochs)])
    idx = idx[: cfg.steps * cfg.batch_size].reshape(cfg.steps, cfg.batch_size).astype(np.int32)
    width = cfg.batch_size if width is None else width
    return np.pad(idx, ((0, 0), (0, width - cfg.batch_size)))


# ----------------------------------------------------------------------------- training
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _train_runs(cfg: LearnerConfig, layers: tuple[Layer, ...], task: Task, rule, lr, mask, key, order):
    """Runs of one (architecture, task) as one ``vmap``: per run a rule index, learning
    rate, batch mask ``(width,)``, PRNG key and batch order ``(steps, width)``. Returns
    checkpoint parameters (leading axes run, checkpoint) and performance ``(runs, n_ck, 2)``."""
    sgd, adam = _unit_optimisers(cfg)
    x_train, y_train = jnp.asarray(task.x_train), jnp.asarray(task.y_train)
    grad = jax.grad(loss_fn)

    def one(rule, lr, mask, key, order):
        _, _, use_sgd = _flags(rule)
        k_init, k_train, k_perf = jax.random.split(key, 3)
        params = init_params(layers, k_init)

        def step(carry, idx):
            p, s_sgd, s_adam, k = carry
            k, sub = jax.random.split(k)
            g = grad(p, layers, task, cfg, x_train[idx], y_train[idx], sub, rule, mask)
            u_sgd, s_sgd = sgd.update(g, s_sgd, p)
            u_adam, s_adam = adam.update(g, s_adam, p)
            upd = jax.tree_util.tree_map(lambda a, b: lr * jnp.where(use_sgd, a, b), u_sgd, u_adam)
            return (optax.apply_updates(p, upd), s_sgd, s_adam, k), None

        def segment(carry, idxs):
            carry, _ = jax.lax.scan(step, carry, idxs)
            return carry, carry[0]

        seg = order.reshape(cfg.n_checkpoints - 1, -1, order.shape[-1])
        _, ck = jax.lax.scan(segment, (params, sgd.init(params), adam.init(params), k_train), seg)
        ck = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), params, ck)
        return ck, jax.vmap(lambda p: performance(layers, p, task, k_perf))(ck)

    return jax.vmap(one)(rule, lr, mask, key, order)


def shared(cfg: LearnerConfig) -> LearnerConfig:
    """What one compiled training function is specialised on: the config with rule, batch
    size, learning rate and seeds reset — runs that agree on it train in one ``vmap``."""
    return dataclasses.replace(cfg, rule="sgdm", batch_size=2, lr=None, model_seed=0, data_seed=0)


def train_runs(configs: list[LearnerConfig]) -> list[tuple[list[dict], np.ndarray]]:
    """Train runs that share an architecture, task and schedule (:func:`shared`) together in
    one compiled ``vmap`` — rules, batch sizes (padded to the largest and masked),
    learning rates and seeds vary per run. Returns per run ``(checkpoints, performance)``:
    the parameters at each checkpoint (per-layer dicts whose arrays have a leading
    checkpoint axis) and ``[val loss, val accuracy]`` per checkpoint ``(n_checkpoints, 2)``."""
    static = {shared(c) for c in configs}
    if len(static) != 1:
        raise ConfigError("train_runs: configs must share architecture, task, steps and hyperparameters")
    cfg = static.pop()
    task = load_task(cfg.task)
    layers = layers_for(cfg.arch, task.input_shape, task.n_out)
    width = max(c.batch_size for c in configs)
    rule = jnp.asarray([RULES.index(c.rule) for c in configs])
    lr = jnp.asarray([c.learning_rate for c in configs], jnp.float32)
    mask = jnp.asarray([np.arange(width) < c.batch_size for c in configs])
    keys = jnp.stack([jax.random.PRNGKey(c.model_seed) for c in configs])
    orders = jnp.asarray(np.stack([batch_order(task, c, width) for c in configs]))
    ck, perf = jax.device_get(_train_runs(cfg, layers, task, rule, lr, mask, keys, orders))
    return [(jax.tree_util.tree_map(lambda a, i=i: np.asarray(a[i]), ck), np.asarray(perf[i]))
            for i in range(len(configs))]


def train(cfg: LearnerConfig) -> tuple[list[dict], np.ndarray]:
    """One run (see :func:`train_runs`)."""
    return train_runs([cfg])[0]
