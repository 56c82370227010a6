import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractal_match import ParameterError
from fractal_match.templates.fractal import FAMILIES, fractalize, parse_assignments
from fractal_match.templates.fractal._canvas import fit_square
from fractal_match.templates.fractal.controls import rotated, scaled_about_centre
from fractal_match.templates.fractal.droste import droste_map
from fractal_match.templates.fractal.orbit_trap import trap_indices


@pytest.fixture(scope="module")
def kernel():
    """A structured, asymmetric test kernel (a gradient with a bright off-centre blob)."""
    y, x = np.mgrid[0:48, 0:48] / 47.0
    image = 0.2 + 0.5 * x + 0.3 * np.exp(-((x - 0.3) ** 2 + (y - 0.7) ** 2) / 0.01)
    return np.clip(image, 0, 1).astype(np.float32)


def _inside_disk(size, radius=0.9):
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(axis, axis)
    return x * x + y * y <= radius * radius


@pytest.mark.parametrize("degree", [2, 3, 4, 5])
def test_julia_orbit_trap_of_degree_d_is_d_fold_symmetric(kernel, degree):
    # (w z)^d = z^d for w = exp(2 pi i / d): z0 and w z0 share every iterate from the first on.
    template = fractalize(kernel, "orbit-trap", size=201, degree=degree, c=complex(-0.2, 0.3), trap_half=0.6)
    image = template.image
    assert 0.02 < template.mask.mean() < 0.98  # a real picture, not all trapped or all empty
    inside = _inside_disk(201)
    same = np.abs(rotated(image, 360.0 / degree) - image)[inside].mean()
    other = np.abs(rotated(image, 180.0 / degree) - image)[inside].mean()
    assert same < 0.25 * other, (same, other)


def test_orbit_trap_matches_a_direct_reference_iteration():
    """The semantics, pixel by pixel: first trapped iterate after z0, nearest kernel pixel, -1 if never."""
    side, c, d, iterations, centre, half, kside = 24, complex(0.616, -0.04), 5, 100, 0j, 0.5, 7
    rows, cols = trap_indices(side, 0j, 2.0, c, True, d, iterations, centre, half, kside)
    step = 4.0 / side
    for i in range(side):
        for j in range(side):
            z = complex(-2 + (j + 0.5) * step, 2 - (i + 0.5) * step)
            expected = (-1, -1)
            for _ in range(iterations):
                z = z**d + c
                if abs(z) > 1e6:
                    break
                u, v = z.real - (centre.real - half), (centre.imag + half) - z.imag
                if 0 <= u <= 2 * half and 0 <= v <= 2 * half:
                    expected = (min(int(v * kside / (2 * half)), kside - 1), min(int(u * kside / (2 * half)), kside - 1))
                    break
            assert (rows[i, j], cols[i, j]) == expected, (i, j)


def test_orbit_trap_mandelbrot_and_supersampling(kernel):
    plain = fractalize(kernel, "orbit-trap", size=64, mode="mandelbrot", degree=2, trap_half=0.4)
    smooth = fractalize(kernel, "orbit-trap", size=64, mode="mandelbrot", degree=2, trap_half=0.4, supersample=3)
    assert plain.mask.mean() > 0.05
    assert set(np.unique(plain.mask)) <= {0.0, 1.0}
    assert len(np.unique(smooth.mask)) > 2  # anti-aliased edges
    assert np.isfinite(smooth.image).all() and smooth.image.min() >= 0 and smooth.image.max() <= 1


def test_orbit_trap_untrapped_pixels_get_background_and_mask_zero(kernel):
    template = fractalize(kernel, "orbit-trap", size=64, background=0.25)
    outside = template.mask == 0
    assert outside.any()
    assert np.all(template.image[outside] == 0.25)


def test_ifs_condensation_keeps_the_kernel_and_plain_hutchinson_shrinks_it(kernel):
    kept = fractalize(kernel, "ifs", size=96, iterations=5, condensation=True, blend="max")
    plain = fractalize(kernel, "ifs", size=96, iterations=5, condensation=False, blend="max")
    base = fit_square(kernel, 96)
    assert kept.mask.min() == 1.0  # the full-size kernel is there every iteration
    assert np.all(kept.image >= base - 1e-6)  # max-blend: the kernel is never lost
    # without condensation the covered area shrinks like (n_maps * scale^2)^iterations = 0.64^k
    early = fractalize(kernel, "ifs", size=96, iterations=2, condensation=False, blend="max")
    assert (plain.mask > 0.5).mean() < 0.5 * (early.mask > 0.5).mean()
    assert (plain.mask > 0.5).mean() == pytest.approx((4 * 0.4**2) ** 5, abs=0.03)


@settings(max_examples=80, deadline=None)
@given(st.floats(0.2, 0.6), st.integers(0, 4), st.floats(-180, 180),
       st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)), min_size=1, max_size=20))
def test_droste_is_exactly_self_similar(ratio, branches, rotation, points):
    if branches:
        rotation = 0.0  # a spiral is self-similar under scaling alone (documented)
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    period = -math.log(ratio)
    shifted = np.log(np.hypot(x, y) + 1e-300) + branches * period * (np.arctan2(y, x) + math.pi) / (2 * math.pi)
    away_from_seams = (np.hypot(x, y) > 1e-3) & (np.abs(shifted / period - np.round(shifted / period)) > 1e-6)
    x, y = x[away_from_seams], y[away_from_seams]
    u1, v1 = droste_map(x, y, ratio, branches, rotation)
    # scaling by the ratio and turning by the per-level rotation maps the picture onto itself
    angle = math.radians(rotation)
    xs = ratio * (x * math.cos(angle) - y * math.sin(angle))
    ys = ratio * (x * math.sin(angle) + y * math.cos(angle))
    u2, v2 = droste_map(xs, ys, ratio, branches, rotation)
    np.testing.assert_allclose(u1, u2, atol=1e-9)
    np.testing.assert_allclose(v1, v2, atol=1e-9)
    radius = np.hypot(u1, v1)
    assert np.all(radius <= 1 + 1e-12)
    if branches == 0:
        assert np.all(radius > ratio - 1e-12)


def test_droste_image_repeats_at_the_ratio(kernel):
    size, ratio = 200, 0.5
    image = fractalize(kernel, "droste", size=size, ratio=ratio).image
    centre = image[50:150, 50:150]  # the middle half of the canvas, enlarged, is the whole canvas
    enlarged = cv2.resize(centre, (size, size), interpolation=cv2.INTER_LINEAR)
    inside = _inside_disk(size, 0.95)
    assert np.corrcoef(enlarged[inside], image[inside])[0, 1] > 0.9


def test_scale_sum_is_the_weighted_sum_of_scaled_copies(kernel):
    template = fractalize(kernel, "scale-sum", size=48, levels=2, ratio=0.5, weight=0.6)
    expected = (kernel + 0.6 * scaled_about_centre(kernel, 0.5)) / 1.6
    np.testing.assert_allclose(template.image, expected, atol=1e-6)
    single = fractalize(kernel, "scale-sum", size=48, levels=1)
    np.testing.assert_allclose(single.image, kernel, atol=1e-6)


@pytest.mark.parametrize("n", [3, 4, 6])
def test_rot_sym_is_invariant_to_rotation_by_360_over_n(kernel, n):
    template = fractalize(kernel, "rot-sym", size=121, n=n)
    inside = _inside_disk(121, 0.85)
    turned = rotated(template.image, 360.0 / n)
    assert np.abs(turned - template.image)[inside].max() < 0.03
    # and it is not invariant to an arbitrary turn of the original kernel
    raw = cv2.resize(kernel, (121, 121))
    assert np.abs(rotated(raw, 360.0 / n) - raw)[inside].max() > 0.1
    assert template.mask is not None and template.mask[60, 60] == 1 and template.mask[0, 0] == 0


def test_harmonic_order_zero_is_rotation_invariant_and_more_orders_restore_detail(kernel):
    only_zero = fractalize(kernel, "harmonic", size=121, orders="0")
    inside = _inside_disk(121, 0.85)
    for angle in (17.0, 90.0, 133.0):
        assert np.abs(rotated(only_zero.image, angle) - only_zero.image)[inside].max() < 0.02
    many = fractalize(kernel, "harmonic", size=121, orders=",".join(str(m) for m in range(40)))
    raw = cv2.resize(kernel, (121, 121), interpolation=cv2.INTER_AREA)
    error_zero = np.abs(only_zero.image - raw)[inside].mean()
    error_many = np.abs(many.image - raw)[inside].mean()
    assert error_many < 0.3 * error_zero


def test_blur_and_matched_blur(kernel):
    blurred = fractalize(kernel, "blur", size=48, sigma=3.0)
    np.testing.assert_allclose(blurred.image, cv2.GaussianBlur(kernel, (0, 0), 3.0, borderType=cv2.BORDER_REFLECT), atol=1e-6)
    matched = fractalize(kernel, "blur", size=48, match="droste")
    assert matched.params["match"] == "droste"
    assert np.isfinite(matched.image).all()


def test_shrunk_pad_measures_the_fractal_central_copy(kernel):
    template = fractalize(kernel, "shrunk-pad", size=100, scale=0.3, background=0.1)
    assert template.mask.sum() == 30 * 30
    assert np.all(template.image[template.mask == 0] == pytest.approx(0.1))
    like = fractalize(kernel, "shrunk-pad", size=100, like="orbit-trap")
    reference = fractalize(kernel, "orbit-trap", size=100)
    assert 0 < like.mask.sum() < reference.mask.size
    assert like.mask.sum() <= (reference.mask > 0).sum() * 4  # same order of size as the trapped part


def test_scrambled_keeps_geometry_and_destroys_content(kernel):
    scrambled = fractalize(kernel, "scrambled", size=96, seed=3)
    fractal = fractalize(kernel, "orbit-trap", size=96)
    np.testing.assert_array_equal(scrambled.mask, fractal.mask)  # same trap geometry
    assert not np.allclose(scrambled.image, fractal.image)
    assert np.array_equal(scrambled.image, fractalize(kernel, "scrambled", size=96, seed=3).image)
    assert not np.array_equal(scrambled.image, fractalize(kernel, "scrambled", size=96, seed=4).image)


def test_flip_is_a_half_turn(kernel):
    np.testing.assert_array_equal(fractalize(kernel, "flip").image, kernel[::-1, ::-1])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_is_deterministic_and_well_formed(kernel, family):
    first = fractalize(kernel, family, size=40)
    second = fractalize(kernel, family, size=40)
    assert np.array_equal(first.image, second.image)
    assert first.image.dtype == np.float32 and np.isfinite(first.image).all()
    assert first.image.min() >= 0 and first.image.max() <= 1
    assert max(first.image.shape[:2]) == 40
    if first.mask is not None:
        assert first.mask.shape == first.image.shape[:2] and first.mask.min() >= 0 and first.mask.max() <= 1
    assert first.family == family and first.params["size"] == 40
    assert set(first.params) == {p.name for p in FAMILIES[family].params} | {"size"}
    colour = fractalize(np.dstack([kernel, kernel * 0.5, kernel[::-1]]), family, size=40)
    assert colour.image.ndim == 3 and colour.image.shape[2] == 3


@pytest.mark.parametrize("family, params, message", [
    ("nope", {}, "unknown family 'nope'"),
    ("orbit-trap", {"degree": 7}, "degree = 7 is out of range (allowed: 2 to 5)"),
    ("orbit-trap", {"dgree": 3}, "unknown parameter 'dgree'"),
    ("orbit-trap", {"c": "3+0i"}, "out of range"),
    ("orbit-trap", {"mode": "newton"}, "allowed: 'julia' | 'mandelbrot'"),
    ("ifs", {"scale": 0.9}, "scale = 0.9 is out of range (allowed: 0.2 to 0.6)"),
    ("ifs", {"n_maps": 2.5}, "must be a whole number"),
    ("droste", {"ratio": "abc"}, "is not a float"),
    ("harmonic", {"orders": "0,x"}, "must be whole numbers"),
    ("harmonic", {"orders": "500"}, "out of range"),
])
def test_parameter_errors_name_the_parameter_and_range(kernel, family, params, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|").replace("+", r"\+")):
        fractalize(kernel, family, size=32, **params)


def test_size_is_refused_before_allocating(kernel):
    with pytest.raises(ParameterError, match="size = 100000 is out of range"):
        fractalize(kernel, "orbit-trap", size=100000)


def test_string_parameters_from_the_command_line_are_converted(kernel):
    params = parse_assignments(["degree=3", "c=0.3-0.5i", "supersample=2", "mode=mandelbrot"])
    template = fractalize(kernel, "orbit-trap", size=32, **params)
    assert template.params["degree"] == 3 and template.params["c"] == complex(0.3, -0.5)
    with pytest.raises(ParameterError, match="needs the form key=value"):
        parse_assignments(["degree3"])
