import numpy as np
import pytest

from fractal_match import ParameterError, match_all
from fractal_match.templates.kernels import (
    BANK,
    LEARNED,
    bank_kernel,
    classifier_weights,
    eigenfaces,
    kernel_names,
    load_faces,
    load_kernel,
)


@pytest.mark.parametrize("name", BANK)
def test_bank_kernels_render_at_their_size(name):
    image = bank_kernel(f"{name}?size=40")
    assert image.shape == (40, 40) and image.dtype == np.uint8
    assert image.max() > image.min()  # a picture with contrast


def test_gabor_orientation_follows_theta():
    vertical = bank_kernel("gabor?theta=0&size=64").astype(float)
    horizontal = bank_kernel("gabor?theta=90&size=64").astype(float)
    np.testing.assert_allclose(np.rot90(vertical), horizontal, atol=2)
    # a theta=0 Gabor varies along x (columns), not along y
    assert np.abs(np.diff(vertical, axis=1)).sum() > 3 * np.abs(np.diff(vertical, axis=0)).sum()


def test_bank_parameter_errors():
    with pytest.raises(ParameterError, match="unknown bank kernel 'wavelet'"):
        bank_kernel("wavelet")
    with pytest.raises(ParameterError, match="bank:gabor: unknown parameter 'angle'"):
        bank_kernel("gabor?angle=3")
    with pytest.raises(ParameterError, match="sigma = 0.01 is out of range"):
        bank_kernel("gabor?sigma=0.01")
    with pytest.raises(ParameterError, match="needs the form key=value"):
        bank_kernel("gabor?sigma")


def test_eigenfaces_are_orthonormal_and_ordered_by_variance():
    components = eigenfaces(10).reshape(10, -1)
    np.testing.assert_allclose(components @ components.T, np.eye(10), atol=1e-9)
    faces, _ = load_faces()
    centred = faces.reshape(100, -1) - faces.reshape(100, -1).mean(axis=0)
    variance = ((centred @ components.T) ** 2).sum(axis=0)
    assert np.all(np.diff(variance) <= 1e-9)


def test_classifier_separates_faces_from_non_faces():
    weights, ridge, accuracy = classifier_weights()
    assert accuracy >= 0.9  # leave-one-out
    faces, non_faces = load_faces()
    assert (faces.reshape(100, -1) @ weights.ravel()).mean() > (non_faces.reshape(100, -1) @ weights.ravel()).mean()


@pytest.mark.parametrize("name", [f"learned:{n}" for n in LEARNED])
def test_learned_kernels_load_as_pictures(name):
    kernel = load_kernel(name)
    assert kernel.image.shape == (25, 25) and kernel.image.dtype == np.uint8


def test_every_named_kernel_loads_and_can_be_matched():
    target = load_kernel("crop:coffee/cup").image
    for name in kernel_names():
        kernel = load_kernel(name)
        if kernel.image.shape[0] <= target.shape[0] and kernel.image.shape[1] <= target.shape[1]:
            responses = match_all(target, kernel.image, ["TM_CCORR_NORMED"])
            assert np.isfinite(responses["TM_CCORR_NORMED"]).all()
