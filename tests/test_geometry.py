import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractal_match.geometry import Box, Pose, iou, pose_warp, transform_target


@settings(max_examples=100, deadline=None)
@given(st.floats(0.3, 3.0), st.floats(-360, 360), st.integers(20, 400), st.integers(20, 400))
def test_points_map_forward_and_back_within_a_micro_pixel(scale, rotation, width, height):
    warp = pose_warp((width, height), (width * 0.4, height * 0.6), Pose(scale, rotation))
    points = np.random.default_rng(0).random((50, 2)) * [width, height]
    assert np.abs(warp.inverse(warp.forward(points)) - points).max() < 1e-6


def test_quarter_turn_swaps_width_and_height_and_moves_pixels_exactly():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    box = Box(20, 10, 30, 16)
    for rotation, turns in ((90, 1), (180, 2), (270, 3), (-90, 3)):
        turned, new_box, center, _ = transform_target(image, box, Pose(1.0, rotation))
        x, y, w, h = (round(v) for v in new_box)
        assert (w, h) == ((16, 30) if turns % 2 else (30, 16))
        np.testing.assert_array_equal(turned[y : y + h, x : x + w], np.rot90(image[10:26, 20:50], turns))
        assert center == pytest.approx((new_box.x + new_box.w / 2, new_box.y + new_box.h / 2))


def test_scaling_scales_the_box_exactly_and_uses_area_averaging():
    image = np.random.default_rng(2).integers(0, 256, (100, 120)).astype(np.uint8)
    scaled, box, center, _ = transform_target(image, Box(40, 20, 30, 50), Pose(0.5, 0))
    assert scaled.shape == (50, 60)
    assert tuple(box) == pytest.approx((20, 10, 15, 25))
    assert center == pytest.approx((27.5, 22.5))
    enlarged, box, _, _ = transform_target(image, Box(40, 20, 30, 50), Pose(2.0, 0))
    assert enlarged.shape == (200, 240) and tuple(box) == pytest.approx((80, 40, 60, 100))


def test_rotation_keeps_the_object_centre_and_the_whole_image():
    image = np.full((50, 70), 200, np.uint8)
    turned, box, center, warp = transform_target(image, Box(10, 10, 20, 10), Pose(1.0, 45))
    corners = warp.forward([(0, 0), (70, 0), (0, 50), (70, 50)])
    assert corners.min() >= -1e-9 and corners[:, 0].max() <= turned.shape[1] + 1e-9
    assert corners[:, 1].max() <= turned.shape[0] + 1e-9
    side = 20 * np.cos(np.pi / 4) + 10 * np.sin(np.pi / 4)
    assert box.w == pytest.approx(side) and box.h == pytest.approx(side)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
