
import cv2
import numpy as np
import pytest
from PIL import Image

from fractal_match import ImageError, load_image, read_png_metadata, save_image


@pytest.mark.parametrize("dtype, shape", [("uint8", (20, 30)), ("uint8", (20, 30, 3)), ("uint16", (20, 30)), ("uint16", (20, 30, 3))])
def test_png_round_trip_keeps_pixels_and_type(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    array = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    path = save_image(tmp_path / "a.png", array, metadata={"family": "none", "params": {"d": 5}})
    back = load_image(path, "unchanged")
    assert back.dtype == array.dtype and np.array_equal(back, array)
    assert read_png_metadata(path) == {"family": "none", "params": '{"d": 5}'}


def test_modes_convert_between_gray_and_colour(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: checks RGB order survives OpenCV's BGR
    path = save_image(tmp_path / "red.png", rgb)
    assert tuple(load_image(path, "color")[0, 0]) == (200, 0, 0)
    gray = load_image(path, "gray")
    assert gray.shape == (4, 5) and gray[0, 0] == round(0.299 * 200)
    assert load_image(save_image(tmp_path / "g.png", gray), "color").shape == (4, 5, 3)


def test_alpha_channel_becomes_mask(tmp_path):
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[2:4, 2:4, 3] = 255
    path = save_image(tmp_path / "k.png", rgba)
    image, mask = load_image(path, "gray", return_mask=True)
    assert image.shape == (6, 6)
    assert mask.dtype == np.uint8 and mask.sum() == 4 * 255
    assert load_image(save_image(tmp_path / "n.png", rgba[..., :3]), return_mask=True)[1] is None


def test_gif_is_read_through_pillow(tmp_path):
    path = tmp_path / "a.gif"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(path)
    assert load_image(path).shape == (8, 8)


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((10, 20, 3), np.uint8)
    array[:, :10] = 255
    img = Image.fromarray(array)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=95)
    assert load_image(path, "gray").shape == (20, 10)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("hello, not an image"), "not an image"),
    (lambda p: p.write_bytes(cv2.imencode(".png", np.zeros((50, 50), np.uint8))[1].tobytes()[:60]), "PNG data is truncated"),
    (lambda p: p.write_bytes(cv2.imencode(".jpg", np.zeros((50, 50), np.uint8))[1].tobytes()[:300]), "JPEG data is truncated"),
])
def test_bad_files_give_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_float_image_with_nan_is_refused(tmp_path):
    path = tmp_path / "f.tiff"
    cv2.imwrite(str(path), np.array([[0.5, np.nan]], np.float32))
    with pytest.raises(ImageError, match="NaN"):
        load_image(path)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    save_image(tmp_path / "x.png", np.zeros((3, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]
    with pytest.raises(ImageError, match="is a directory"):
        save_image(tmp_path, np.zeros((3, 3), np.uint8))
