
import numpy as np
import pytest

from fractal_match import load_image
from fractal_match.datasets import DATA_DIR, find_annotation, load_annotations
from fractal_match.templates.kernels import load_faces, load_kernel, resize_kernel
from fractal_match._errors import ConfigError


def test_every_annotation_lies_inside_its_image():
    annotations = load_annotations()
    assert len(annotations) >= 12
    assert len({a.image for a in annotations}) >= 6
    for annotation in annotations:
        image = load_image(annotation.image)
        assert annotation.box.inside(image.shape[1], image.shape[0]), annotation.name
    assert len({a.name for a in annotations}) == len(annotations)


def test_every_data_file_has_a_licence_entry():
    licences = (DATA_DIR / "LICENSES.md").read_text()
    for path in DATA_DIR.rglob("*"):
        if path.is_file() and path.suffix in {".png", ".jpg", ".npy"}:
            assert str(path.relative_to(DATA_DIR)) in licences, path


def test_bad_annotation_files_name_the_field(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[[object]]\nimage = "x.png"\nlabel = "y"\nbox = [1, 2, 3]\n')
    with pytest.raises(ConfigError, match="object 1: field 'box'"):
        load_annotations(path)
    with pytest.raises(ConfigError, match="unknown annotated object 'nope/none'"):
        find_annotation("nope/none")


def test_kernel_sources():
    faces, non_faces = load_faces()
    assert faces.shape == non_faces.shape == (100, 25, 25)
    mean = load_kernel("learned:mean-face")
    assert mean.image.dtype == np.uint8 and mean.image.shape == (25, 25)
    assert np.abs(mean.image / 255.0 - faces.mean(axis=0)).max() <= 0.5 / 255 + 1e-9
    crop = load_kernel("crop:astronaut/face", "color")
    assert crop.image.shape == (102, 88, 3)
    assert resize_kernel(crop, 56).image.shape == (56, 48, 3)


def test_the_study5_photos_are_new_boxed_and_grouped_into_units():
    """Study 5's objects: at least 80 boxes in at least 30 independent units, every box inside its
    image, every image in a unit, and no image one of the bundled photos the searches used."""
    study = load_annotations(DATA_DIR / "study5" / "annotations.toml")
    assert len(study) >= 80 and len({a.unit_key for a in study}) >= 30
    assert all(a.unit for a in study)  # every image is in the [units] table
    for annotation in study:
        image = load_image(annotation.image)
        assert annotation.box.inside(image.shape[1], image.shape[0]), annotation.name
    searched = {a.image.name for a in load_annotations()}
    assert not searched & {a.image.name for a in study}
