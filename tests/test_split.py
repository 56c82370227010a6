"""A config's [split]: objects divided by image into a tune set and a held-out set."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fractal_match import load_config
from fractal_match.config import ConfigError
from fractal_match.experiment import source_image, split_targets, target_refs

CONFIG = """name = "s"
kernels = ["crop"]
[targets]
annotations = "all"
{synthetic}
[[variants]]
family = "none"
[split]
{split}
"""


def _config(tmp_path, split: str = "tune = 0.5\nseed = 0\nby = \"image\"", synthetic: str = ""):
    path = tmp_path / "s.toml"
    path.write_text(CONFIG.format(split=split, synthetic=synthetic))
    return load_config(path)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_image_has_objects_on_both_sides_and_every_object_is_somewhere(tmp_path, seed):
    config = _config(tmp_path, f"tune = 0.5\nseed = {seed}",
                     '[targets.synthetic]\ncount = 6\nobjects = ["lfw:face-*"]\ntextures = ["brick", "coffee"]')
    tune, held = split_targets(config)
    tune_images = {source_image(ref, config) for ref in tune}
    held_images = {source_image(ref, config) for ref in held}
    assert tune and held and not tune_images & held_images
    assert sorted(r.id for r in tune + held) == sorted(r.id for r in target_refs(config))
    assert len(tune_images) == round(0.5 * len(tune_images | held_images))


def test_the_split_is_seeded(tmp_path):
    first = [r.id for r in split_targets(_config(tmp_path, "seed = 3"))[0]]
    again = [r.id for r in split_targets(_config(tmp_path, "seed = 3"))[0]]
    others = {tuple(r.id for r in split_targets(_config(tmp_path, f"seed = {s}"))[0]) for s in range(4, 10)}
    assert first == again and len(others | {tuple(first)}) > 1


def test_the_tune_fraction_counts_images(tmp_path):
    config = _config(tmp_path, "tune = 0.25")
    tune, held = split_targets(config)
    images = {source_image(ref, config) for ref in tune + held}
    assert len({source_image(ref, config) for ref in tune}) == round(0.25 * len(images))


@pytest.mark.parametrize("split, message", [
    ("tune = 1.0", "field 'split.tune' = 1.0 is out of range"),
    ("tune = 0", "field 'split.tune' = 0 is out of range"),
    ('by = "object"', "(allowed: 'image': no image has objects on both sides)"),
    ("fraction = 0.5", "unknown field 'split.fraction'"),
])
def test_a_wrong_split_is_one_clear_error(tmp_path, split, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _config(tmp_path, split)


def test_a_config_without_a_split_keeps_its_digest_content():
    assert "split" not in load_config("quick").canonical()


def test_validate_prints_both_sides(tmp_path):
    _config(tmp_path)
    result = subprocess.run([sys.executable, "-m", "fractal_match", "validate", str(tmp_path / "s.toml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tune = next(line for line in lines if line.strip().startswith("tune:"))
    held = next(line for line in lines if line.strip().startswith("held-out:"))
    assert "object(s) in" in tune and "object(s) in" in held
    tune_images = set(tune.split(": ", 2)[2].split(", "))
    held_images = set(held.split(": ", 2)[2].split(", "))
    assert not tune_images & held_images and len(tune_images | held_images) == 13
