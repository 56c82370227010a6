"""Controls: templates that share one ingredient of a fractal but are not fractals.

They let an experiment separate "self-similarity helps" from "anything that is smaller, blurrier,
more symmetric or on black helps".
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..._errors import ParameterError
from ._canvas import canvas_coordinates, disk, fit_square, sample
from ._params import Param
from ._templates import fractalize

FRACTAL_FAMILIES = ("orbit-trap", "ifs", "droste")


def _resize_longer_side(kernel: np.ndarray, size: int) -> np.ndarray:
    h, w = kernel.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(kernel, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# --- none and flip -------------------------------------------------------------------------------

NONE_PARAMS = ()


def generate_none(kernel, size):
    """The kernel itself, its longer side scaled to `size` (aspect kept)."""
    return _resize_longer_side(kernel, size).astype(np.float32), None


FLIP_PARAMS = ()


def generate_flip(kernel, size):
    """The kernel turned by 180 degrees: matching it correlates with the convolution kernel."""
    return np.ascontiguousarray(_resize_longer_side(kernel, size)[::-1, ::-1]).astype(np.float32), None


# --- blur -----------------------------------------------------------------------------------------

BLUR_PARAMS = (
    Param("sigma", float, 2.0, "Gaussian standard deviation in output pixels (ignored when match is set)", 0.1, 50.0),
    Param("match", str, "", "a family whose radially averaged power spectrum the blur should match ('' = use sigma)",
          choices=("",) + FRACTAL_FAMILIES),
)


def radial_power(image: np.ndarray, bins: int = 32) -> np.ndarray:
    """Radially averaged power spectrum over normalised frequency (0 to 0.5 cycles/pixel)."""
    gray = image.mean(axis=2) if image.ndim == 3 else image
    gray = gray - gray.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray))) ** 2 / gray.size
    fy = np.fft.fftshift(np.fft.fftfreq(gray.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(gray.shape[1]))[None, :]
    radius = np.hypot(fx, fy)
    index = np.minimum((radius / 0.5 * bins).astype(int), bins)
    sums = np.bincount(index.ravel(), power.ravel(), minlength=bins + 1)[:bins]
    counts = np.bincount(index.ravel(), minlength=bins + 1)[:bins]
    return sums / np.maximum(counts, 1)


def matched_sigma(base: np.ndarray, reference: np.ndarray) -> float:
    """The blur sigma whose spectrum of `base` is closest (in log power) to `reference`'s."""
    target = np.log(radial_power(reference) + 1e-12)
    best, best_sigma = np.inf, 0.1
    for sigma in np.geomspace(0.1, 50.0, 60):
        blurred = cv2.GaussianBlur(base, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        distance = float(np.sum((np.log(radial_power(blurred) + 1e-12) - target) ** 2))
        if distance < best:
            best, best_sigma = distance, float(sigma)
    return best_sigma


def generate_blur(kernel, size, sigma, match):
    base = _resize_longer_side(kernel, size).astype(np.float32)
    if match:
        sigma = matched_sigma(base, fractalize(kernel, match, size=size).image)
    return cv2.GaussianBlur(base, (0, 0), sigma, borderType=cv2.BORDER_REFLECT).astype(np.float32), None


# --- scale-sum ------------------------------------------------------------------------------------

SCALE_SUM_PARAMS = (
    Param("levels", int, 3, "number of nested copies (1 = the kernel alone)", 1, 8),
    Param("ratio", float, 0.5, "scale lambda from one copy to the next", 0.2, 0.9),
    Param("weight", float, 0.7, "weight w of each further copy", 0.0, 1.0),
)


def scaled_about_centre(image: np.ndarray, factor: float) -> np.ndarray:
    """K(x / factor): the image scaled by `factor` about the canvas centre, zero outside."""
    h, w = image.shape[:2]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    matrix = np.array([[factor, 0.0, cx * (1 - factor)], [0.0, factor, cy * (1 - factor)]])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def generate_scale_sum(kernel, size, levels, ratio, weight):
    """T = sum_k w^k K(x / lambda^k) / sum_k w^k, k = 0 .. levels-1 (scale only, no fractal)."""
    base = fit_square(kernel, size).astype(np.float32)
    total = np.zeros_like(base)
    norm = 0.0
    for k in range(levels):
        total += (weight**k) * scaled_about_centre(base, ratio**k)
        norm += weight**k
    return (total / norm).astype(np.float32), None


# --- rot-sym --------------------------------------------------------------------------------------

ROT_SYM_PARAMS = (
    Param("n", int, 6, "order of the rotation group C_n", 2, 36),
    Param("mirrors", bool, False, "also average the mirror images (dihedral group D_n)"),
)


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image turned by `degrees` (counter-clockwise) about its centre."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def generate_rot_sym(kernel, size, n, mirrors):
    """The mean over the rotation group C_n (or D_n), inside a disk so square corners do not rule."""
    base = fit_square(kernel, size).astype(np.float32)
    sources = [base, np.ascontiguousarray(base[:, ::-1])] if mirrors else [base]
    total = np.zeros_like(base)
    for source in sources:
        for k in range(n):
            total += rotated(source, 360.0 * k / n)
    window = disk(size)
    image = total / (n * len(sources))
    image = image * (window if image.ndim == 2 else window[:, :, None])
    return image.astype(np.float32), window


# --- harmonic -------------------------------------------------------------------------------------

HARMONIC_PARAMS = (
    Param("orders", str, "0", "circular-harmonic orders to keep, comma-separated (0 alone: rotation invariant)"),
    Param("angles", int, 256, "angular samples of the polar resampling", 16, 2048),
)


def parse_orders(text: str, angles: int) -> list[int]:

    try:
        orders = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ParameterError(f"harmonic: parameter orders = {text!r} must be whole numbers like '0,2,4'") from None
    if not orders or orders[0] < 0 or orders[-1] >= angles // 2:
        raise ParameterError(f"harmonic: parameter orders = {text!r} out of range (allowed: 0 to {angles // 2 - 1})")
    return orders


def generate_harmonic(kernel, size, orders, angles):
    """Keep chosen circular-harmonic orders: polar resampling, FFT over the angle, back."""
    keep = parse_orders(orders, angles)
    base = fit_square(kernel, size).astype(np.float32)
    radii = max(2, size // 2)
    r = (np.arange(radii) + 0.5) / radii
    theta = np.arange(angles) * 2.0 * math.pi / angles
    polar = sample(base, r[:, None] * np.cos(theta)[None, :], r[:, None] * np.sin(theta)[None, :])
    spectrum = np.fft.fft(polar, axis=1)
    selected = np.zeros(angles, bool)
    for m in keep:
        selected[m] = True
        selected[-m] = True
    spectrum[:, ~selected] = 0
    filtered = np.real(np.fft.ifft(spectrum, axis=1)).astype(np.float32)
    # back to the canvas: radius and angle of each pixel index the (r, theta) grid, angle wrapping
    x, y = canvas_coordinates(size)
    pixel_r = np.hypot(x, y) * radii - 0.5
    pixel_t = np.mod(np.arctan2(y, x), 2.0 * math.pi) / (2.0 * math.pi) * angles
    wrapped = np.concatenate([filtered, filtered[:, :1]], axis=1)
    image = cv2.remap(wrapped, pixel_t.astype(np.float32), pixel_r.astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    window = disk(size)
    image = np.clip(image, 0.0, 1.0) * (window if image.ndim == 2 else window[:, :, None])
    return image.astype(np.float32), window


# --- shrunk-pad -----------------------------------------------------------------------------------

SHRUNK_PAD_PARAMS = (
    Param("scale", float, 0.35, "size of the shrunk kernel relative to the canvas (ignored when like is set)", 0.05, 1.0),
    Param("like", str, "", "measure the scale from this family's largest trapped/central copy ('' = use scale)",
          choices=("",) + FRACTAL_FAMILIES),
    Param("background", float, 0.0, "value of the padding", 0.0, 1.0),
)


def central_copy_scale(mask: np.ndarray) -> float:
    """Side of the largest connected part of a template's mask, relative to the canvas side."""
    binary = (mask > 0.5).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return 1.0
    largest = stats[1:, cv2.CC_STAT_AREA].argmax() + 1
    side = max(stats[largest, cv2.CC_STAT_WIDTH], stats[largest, cv2.CC_STAT_HEIGHT])
    return float(min(1.0, max(side / mask.shape[0], 0.05)))


def generate_shrunk_pad(kernel, size, scale, like, background):
    """The kernel shrunk to the size of a fractal's central copy, padded like the fractal."""
    if like:
        reference = fractalize(kernel, like, size=size)
        scale = central_copy_scale(reference.mask) if reference.mask is not None else 1.0
    base = fit_square(kernel, size).astype(np.float32)
    side = max(1, round(size * scale))
    small = cv2.resize(base, (side, side), interpolation=cv2.INTER_AREA)
    image = np.full(base.shape, background, np.float32)
    mask = np.zeros((size, size), np.float32)
    top = (size - side) // 2
    image[top : top + side, top : top + side] = small
    mask[top : top + side, top : top + side] = 1.0
    return image, mask


# --- scrambled ------------------------------------------------------------------------------------

SCRAMBLED_PARAMS = (
    Param("through", str, "orbit-trap", "the generator the scrambled kernel goes through", choices=FRACTAL_FAMILIES + ("none",)),
    Param("seed", int, 0, "seed of the random phases", 0, 2**31 - 1),
)


def phase_scrambled(image: np.ndarray, seed: int) -> np.ndarray:
    """Same amplitude spectrum (and mean, contrast) as `image`, random phases: content destroyed."""
    rng = np.random.default_rng(seed)
    noise_phase = np.angle(np.fft.fft2(rng.standard_normal(image.shape[:2])))  # Hermitian: real result
    channels = [image] if image.ndim == 2 else [image[:, :, k] for k in range(image.shape[2])]
    out = []
    for channel in channels:
        amplitude = np.abs(np.fft.fft2(channel))
        scrambled = np.real(np.fft.ifft2(amplitude * np.exp(1j * noise_phase)))
        scrambled = (scrambled - scrambled.mean()) / (scrambled.std() + 1e-12) * channel.std() + channel.mean()
        out.append(np.clip(scrambled, 0.0, 1.0))
    return (out[0] if image.ndim == 2 else np.stack(out, axis=2)).astype(np.float32)


def generate_scrambled(kernel, size, through, seed):
    """A phase-scrambled kernel through the same generator: fractal geometry, no content."""
    template = fractalize(phase_scrambled(kernel.astype(np.float32), seed), through, size=size)
    return template.image, template.mask
