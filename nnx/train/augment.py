"""Image augmentation on the device (section 7.5 of the notes): every epoch sees slightly different images.

`training.augmentation` in an experiment file is an `AugmentationSpec`; `make_augment(spec)`
turns it into a pure function `(x, key) -> x` on a batch of images (N, H, W, C), which the
training core applies to each training batch inside the compiled step. Evaluation never augments.
The key comes from (seed, epoch, step), so a run is reproducible and each epoch differs.

Order of the transforms: rotation and shift together (one bilinear resampling), then the random
crop of the zero-padded image, then the horizontal flip. The spec is pydantic only, so that the
config stays free of JAX; JAX is imported by `make_augment`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from ..spec import Strict


class AugmentationSpec(Strict):
    """Random transforms of each training image; all off by default."""

    crop_padding: int = Field(0, ge=0, description="random crop: pad each side by this many pixels, "
                                                  "then crop a window of the original size")
    horizontal_flip: bool = Field(False, description="mirror left-right with probability 1/2 "
                                                     "(off for digits: a mirrored 2 is not a 2)")
    shift: float = Field(0.0, ge=0, description="random translation of up to this many pixels on each axis")
    rotation: float = Field(0.0, ge=0, le=180, description="random rotation of up to this many degrees either way")
    fill: Literal["zeros", "nearest"] = Field("zeros", description="pixels that shifts and rotations "
                                                                   "bring in from outside the image")

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.horizontal_flip or self.shift or self.rotation)


def make_augment(spec: AugmentationSpec | None) -> Callable | None:
    """A pure function (images, key) -> images of the same shape and dtype; None when nothing is on."""
    if spec is None or not spec.active:
        return None
    import jax
    import jax.numpy as jnp

    def augment(x, key):
        if x.ndim not in (3, 4):
            from ..errors import ConfigError

            raise ConfigError(f"training.augmentation needs image inputs (height, width[, channels]); "
                              f"this data set's batches have shape {tuple(x.shape)}: remove it")
        squeeze = x.ndim == 3
        images = x[..., None] if squeeze else x
        affine_key, crop_key, flip_key = jax.random.split(key, 3)
        n = images.shape[0]
        if spec.rotation or spec.shift:
            k_angle, k_shift = jax.random.split(affine_key)
            angle = jnp.deg2rad(spec.rotation) * jax.random.uniform(k_angle, (n,), minval=-1.0, maxval=1.0)
            offset = spec.shift * jax.random.uniform(k_shift, (n, 2), minval=-1.0, maxval=1.0)
            images = jax.vmap(lambda im, a, t: _rotate_shift(im, a, t, spec.fill))(images, angle, offset)
        if spec.crop_padding:
            p = spec.crop_padding
            h, w = images.shape[1:3]
            padded = jnp.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
            corner = jax.random.randint(crop_key, (n, 2), 0, 2 * p + 1)
            images = jax.vmap(lambda im, c: jax.lax.dynamic_slice(im, (c[0], c[1], 0), (h, w, im.shape[-1])))(
                padded, corner)
        if spec.horizontal_flip:
            flip = jax.random.bernoulli(flip_key, 0.5, (n, 1, 1, 1))
            images = jnp.where(flip, images[:, :, ::-1, :], images)
        images = images.astype(x.dtype)
        # Materialize the batch: otherwise XLA may fuse the resampling into each consumer of the
        # images (e.g. the k*k shifted copies of a convolution) and compute it many times over.
        images = jax.lax.optimization_barrier(images)
        return images[..., 0] if squeeze else images

    return augment


def _rotate_shift(image, angle, offset, fill: str):
    """One image (H, W, C) rotated by `angle` radians about its centre and moved by `offset` pixels (bilinear)."""
    import jax.numpy as jnp

    h, w = image.shape[:2]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    # Where each output pixel comes from: undo the shift, then rotate back about the centre.
    y, x = yy - offset[0] - cy, xx - offset[1] - cx
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    src_y = cos * y - sin * x + cy
    src_x = sin * y + cos * x + cx
    return _bilinear(image, src_y, src_x, fill)


def _bilinear(image, y, x, fill: str):
    """Sample image (H, W, C) at real coordinates (y, x) of shape (H, W); outside is 0 or the nearest edge."""
    import jax.numpy as jnp

    h, w = image.shape[:2]
    if fill == "nearest":
        y, x = jnp.clip(y, 0, h - 1), jnp.clip(x, 0, w - 1)
    y0, x0 = jnp.floor(y), jnp.floor(x)
    dy, dx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)

    def at(yi, xi):
        inside = ((yi >= 0) & (yi < h) & (xi >= 0) & (xi < w))[..., None]
        values = image[jnp.clip(yi, 0, h - 1), jnp.clip(xi, 0, w - 1)]
        return jnp.where(inside, values, 0.0)

    return ((1 - dy) * (1 - dx) * at(y0, x0) + (1 - dy) * dx * at(y0, x0 + 1)
            + dy * (1 - dx) * at(y0 + 1, x0) + dy * dx * at(y0 + 1, x0 + 1))
