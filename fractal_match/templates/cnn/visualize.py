"""Feature visualization: the picture that maximally excites one unit of an MTCNN network.

The recipe of Olah et al., "Feature Visualization" (Distill, 2017), on a small scale:

* **Decorrelated parametrisation.** The picture is a real Fourier spectrum per colour channel,
  scaled by 1/f so that every frequency band starts with equal energy (natural images fall off as
  1/f, so pixel-space gradient ascent is dominated by high-frequency noise), and the three
  channels are mixed by the square root of the colour covariance of the bundled photos, so that
  the optimiser moves along decorrelated colour axes. A sigmoid maps the result to 0-255.
* **Transformation robustness.** Each step sees a batch of randomly jittered, scaled and rotated
  views of a canvas slightly larger than the network's input; a pattern must survive them all,
  which removes the adversarial pixel noise that otherwise scores best.
* **Adam** (optax) on the spectrum, for a fixed number of steps, seeded.

Every switch can be turned off (``fourier``, ``decorrelate``, ``robust``) to see what it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..._data import DATA_DIR
from ...images import resize_square
from . import nets
from .units import Unit, parse_unit

#: Views per step, and their random ranges (fractions of the input side for the jitter).
VIEWS = 4
JITTER = 0.08
SCALES = (0.9, 1.1)
ROTATION = 10.0  # degrees, either way
LEARNING_RATE = 0.05
PAD = 0.25  # canvas margin per side, as a fraction of the input side


@dataclass(frozen=True)
class Settings:
    """What the optimisation does; the defaults are the Distill recipe."""

    fourier: bool = True
    decorrelate: bool = True
    robust: bool = True


@lru_cache(maxsize=1)
def color_sqrt_covariance() -> np.ndarray:
    """Square root of the RGB covariance of the bundled colour photos, scaled so that its
    largest column has unit length (maps decorrelated colour to RGB)."""
    pixels = []
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"):
        image = cv2.imread(str(DATA_DIR / "images" / name), cv2.IMREAD_COLOR)
        pixels.append(image[:, :, ::-1].reshape(-1, 3).astype(np.float64) / 255.0)
    covariance = np.cov(np.concatenate(pixels), rowvar=False)
    values, vectors = np.linalg.eigh(covariance)
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    return (root / np.linalg.norm(root, axis=0).max()).astype(np.float32)


def unit_values(out: dict, unit: Unit):
    """The unit's value for each sample of a batch, from the network's outputs (:func:`nets.forward`)."""
    if unit.layer == "face":
        return out["logit"]
    act = out[unit.layer]
    if act.ndim == 4 and unit.reduce == "mean":
        return act[:, unit.channel].mean(axis=(1, 2))
    return nets.centre(act)[:, unit.channel]


def _objective(unit: Unit):
    """A function (weights, batch of preprocessed views) -> mean unit activation."""
    return lambda weights, views: unit_values(nets.forward(weights, unit.net, views), unit).mean()


def unit_response(unit: Unit, pictures) -> np.ndarray:
    """The unit's value for each RGB (or gray) picture on 0-255, resized to the input side."""
    out = nets.forward_fn(unit.net)(nets.params(unit.net), nets.batch_at(unit.net, pictures))
    return np.asarray(unit_values(out, unit))


def _frequency_scale(n: int) -> np.ndarray:
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    return (1.0 / np.maximum(np.hypot(fx, fy), 1.0 / n)).astype(np.float32)


def _render(param, n: int, settings: Settings, color):
    """The parameters -> an (n, n, 3) picture on 0-255."""
    if settings.fourier:
        spectrum = (param[..., 0] + 1j * param[..., 1]) * _frequency_scale(n)
        image = jnp.fft.irfft2(spectrum, s=(n, n)) * (n / 4.0)  # (3, n, n), unit-ish spread
        image = jnp.transpose(image, (1, 2, 0))
    else:
        image = param
    if settings.decorrelate:
        image = image @ color.T
    return 255.0 * jax.nn.sigmoid(image)


def _initial(key, n: int, settings: Settings):
    if settings.fourier:
        return 0.01 * jax.random.normal(key, (3, n, n // 2 + 1, 2), dtype=jnp.float32)
    return 0.01 * jax.random.normal(key, (n, n, 3), dtype=jnp.float32)


def _views(key, canvas, side: int, robust: bool):
    """`VIEWS` random affine views (side x side) of the canvas, or its centre when not robust."""
    n = canvas.shape[0]
    centre = (n - 1) / 2.0
    grid = jnp.arange(side, dtype=jnp.float32) - (side - 1) / 2.0
    v, u = jnp.meshgrid(grid, grid, indexing="ij")
    if not robust:
        start = (n - side) // 2
        return canvas[None, start:start + side, start:start + side]
    k_shift, k_scale, k_angle = jax.random.split(key, 3)
    shift = jax.random.uniform(k_shift, (VIEWS, 2), minval=-JITTER, maxval=JITTER) * side
    scale = jax.random.uniform(k_scale, (VIEWS,), minval=SCALES[0], maxval=SCALES[1])
    angle = jnp.radians(jax.random.uniform(k_angle, (VIEWS,), minval=-ROTATION, maxval=ROTATION))

    def one(shift, scale, angle):
        c, s = jnp.cos(angle) / scale, jnp.sin(angle) / scale
        rows = centre + shift[0] + s * u + c * v
        cols = centre + shift[1] + c * u - s * v
        return jnp.stack([jax.scipy.ndimage.map_coordinates(canvas[:, :, ch], [rows, cols], order=1, mode="nearest")
                          for ch in range(3)], axis=-1)

    return jax.vmap(one)(shift, scale, angle)


@lru_cache(maxsize=None)
def _optimiser(unit: Unit, settings: Settings):
    side = unit.side
    n = side + 2 * max(2, round(PAD * side))
    score = _objective(unit)
    optimiser = optax.adam(LEARNING_RATE)

    def loss(param, key, weights, color):
        canvas = _render(param, n, settings, color)
        return -score(weights, nets.preprocess(_views(key, canvas, side, settings.robust)))

    @jax.jit
    def start(key):
        param = _initial(key, n, settings)
        return param, optimiser.init(param)

    @jax.jit
    def step(param, state, key, weights, color):
        value, grad = jax.value_and_grad(loss)(param, key, weights, color)
        updates, state = optimiser.update(grad, state, param)
        return optax.apply_updates(param, updates), state, -value

    @jax.jit
    def finish(param, color):
        first = (n - side) // 2
        return _render(param, n, settings, color)[first:first + side, first:first + side]

    def run(key, weights, color, steps: int):
        # A Python loop over one compiled step: XLA's CPU while-loop (lax.scan) ran each step
        # about 4x slower than the same step compiled alone.
        key, init_key = jax.random.split(key)
        param, state = start(init_key)
        history = []
        for step_key in jax.random.split(key, steps):
            param, state, value = step(param, state, step_key, weights, color)
            history.append(value)
        return finish(param, color), jnp.stack(history)

    return run


@dataclass(frozen=True)
class Visualization:
    """A unit's picture (uint8 RGB, `size` x `size`), the unit's value on it at the input side,
    and the objective per step."""

    unit: str
    picture: np.ndarray
    value: float
    history: np.ndarray
    steps: int
    seed: int
    size: int


def visualize(unit, size: int | None = None, steps: int = 512, seed: int = 0,
              settings: Settings = Settings()) -> Visualization:
    """Maximise one unit (``onet/face``, ``onet/conv3:17``...) by gradient ascent on the input.

    The optimisation runs at the network's input side (48 px for ONet); the picture is then
    resized to `size` (cubic), if given. Same arguments, same picture."""
    unit = parse_unit(unit) if isinstance(unit, str) else unit
    run = _optimiser(unit, settings)
    picture, history = run(jax.random.PRNGKey(int(seed)), nets.params(unit.net),
                           jnp.asarray(color_sqrt_covariance()), int(steps))
    native = np.clip(np.rint(np.asarray(picture)), 0, 255).astype(np.uint8)
    value = float(unit_response(unit, native[None])[0])
    size = int(size or unit.side)
    return Visualization(unit.name, resize_square(native, size), value, np.asarray(history), int(steps),
                         int(seed), size)
