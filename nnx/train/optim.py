"""Optimizers, schedules and regularization from the config, composed from Optax pieces."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

# optax.adamw's default weight_decay, used when `optimizer: adamw` is given without one.
ADAMW_DEFAULT_DECAY = 1e-4


def is_weight(path, leaf) -> bool:
    """Weight matrices and kernels (2-D and up) are penalized; biases and norm scales are not."""
    return getattr(leaf, "ndim", 0) >= 2


def weight_mask(params):
    return jax.tree_util.tree_map_with_path(is_weight, params)


def hyperparameters(training, regularization) -> dict[str, float]:
    """The numbers of a run that a compiled training program takes as arguments (traced), so runs
    that differ only in them train together in one program (a vectorized sweep). The structure
    (which penalties and transforms exist) still comes from the config; see `make_optimizer`."""
    return {"learning_rate": training.optimizer.learning_rate, "weight_decay": weight_decay(training, regularization),
            "l2": regularization.l2, "l1": regularization.l1}


def weight_decay(training, regularization) -> float:
    """regularization.weight_decay; for adamw without one, Optax's default."""
    if training.optimizer.name == "adamw" and "weight_decay" not in regularization.model_fields_set:
        return ADAMW_DEFAULT_DECAY  # AdamW is Adam with decoupled decay: Optax's default, not none
    return regularization.weight_decay


def schedule(opt, epochs: int, steps_per_epoch: int, learning_rate=None):
    """The schedule of `opt`, peaking at `learning_rate` (default: the config's; may be traced)."""
    s, lr = opt.schedule, opt.learning_rate if learning_rate is None else learning_rate
    total = max(epochs * steps_per_epoch, 1)
    if s.name == "constant":
        return optax.constant_schedule(lr)
    if s.name in ("step", "exponential"):
        return optax.exponential_decay(lr, transition_steps=max(int(s.decay_epochs * steps_per_epoch), 1),
                                       decay_rate=s.decay_rate, staircase=s.name == "step")
    if s.name == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=total, alpha=s.end_factor)
    warmup = int(s.warmup_epochs * steps_per_epoch)
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=warmup, decay_steps=max(total, warmup + 1),
                                              end_value=lr * s.end_factor)


def _direction(opt) -> optax.GradientTransformation:
    """The optimizer's update direction, before the learning rate (Optax's own building blocks)."""
    eps = {} if opt.eps is None else {"eps": opt.eps}
    match opt.name:
        case "sgd":
            return optax.identity()
        case "momentum" | "nesterov":
            return optax.trace(decay=opt.momentum, nesterov=opt.name == "nesterov")
        case "rmsprop":
            # Keras' RMSprop (the book's): eps 1e-7 added outside the square root.
            return optax.scale_by_rms(decay=opt.decay, eps=opt.eps or 1e-7, eps_in_sqrt=False)
        case "adam" | "adamw":
            return optax.scale_by_adam(b1=opt.b1, b2=opt.b2, **eps)
        case "nadam":
            return optax.scale_by_adam(b1=opt.b1, b2=opt.b2, nesterov=True, **eps)
        case "adagrad":
            return optax.scale_by_rss(initial_accumulator_value=0.1, **eps)
    raise ValueError(opt.name)


def make_optimizer(training, regularization, steps_per_epoch: int, hyper=None) -> optax.GradientTransformation:
    """clip -> direction -> decoupled weight decay -> learning rate (with schedule).

    The chain's structure (and so its state's) comes from the config; the learning rate and the
    weight decay from `hyper` when given (`hyperparameters`; traced values inside a compiled step),
    so one program and one optimizer-state layout serve runs that differ only in those numbers."""
    opt = training.optimizer
    hyper = hyper if hyper is not None else hyperparameters(training, regularization)
    parts = []
    if opt.clip_norm:
        parts.append(optax.clip_by_global_norm(opt.clip_norm))
    parts.append(_direction(opt))
    if weight_decay(training, regularization) > 0:
        parts.append(optax.add_decayed_weights(hyper["weight_decay"], mask=weight_mask))
    parts.append(optax.scale_by_learning_rate(schedule(opt, training.epochs, steps_per_epoch,
                                                       hyper["learning_rate"])))
    parts.append(scale_by_parameter())
    return optax.chain(*parts)


def scale_by_parameter() -> optax.GradientTransformation:
    """Each parameter's own learning-rate factor: the `learning_rate_scale` its nnx variable carries
    (a fine-tuned pretrained base learning slower than its new head); the others are untouched.
    Stateless, so it changes nothing for a model without such parameters."""

    def scaled(update):
        factor = getattr(update, "learning_rate_scale", None)
        return update if factor is None else jax.tree.map(lambda u: u * factor, update)

    def update_fn(updates, state, params=None):
        return jax.tree.map(scaled, updates, is_leaf=lambda x: isinstance(x, nnx.Variable)), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def penalty(params, regularization, hyper=None):
    """Ridge (l2 * sum W^2) and lasso (l1 * sum |W|) on the weights, not the biases. A term is there
    when the config has it (> 0); its weight comes from `hyper` when given (maybe traced; a zero
    weight there adds exactly zero, to the loss and to the gradient)."""
    hyper = hyper if hyper is not None else {"l2": regularization.l2, "l1": regularization.l1}
    weights = [p for p in jax.tree.leaves(params) if p.ndim >= 2]
    total = jnp.zeros((), jnp.float32)
    if regularization.l2 > 0:
        total += hyper["l2"] * sum(jnp.sum(jnp.square(w)) for w in weights)
    if regularization.l1 > 0:
        total += hyper["l1"] * sum(jnp.sum(jnp.abs(w)) for w in weights)
    return total
