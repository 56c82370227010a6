"""A config's [split]: objects divided by image into a tune set and a held-out set."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fractal_match import DATA_DIR, load_config
from fractal_match.experiments.config import ConfigError
from fractal_match.datasets import find_annotation
from fractal_match.experiments.plan import split_targets, target_refs

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
# 6 scenes with one LFW face each, on brick, then on the coffee photo that also holds annotations
SCENES = '[targets.synthetic]\ncount = 6\nobjects = ["lfw:face-*"]\ntextures = ["brick", "coffee"]'


def _config(tmp_path, split: str = "tune = 0.5\nseed = 0\nby = \"image\"", synthetic: str = ""):
    path = tmp_path / "s.toml"
    path.write_text(CONFIG.format(split=split, synthetic=synthetic))
    return load_config(path)


def _image_file(ref) -> str:
    """The file an object's pixels come from, worked out here independently of the split code."""
    if ref.kind == "annotation":
        return str(find_annotation(ref.id).image.resolve())
    background = ("brick", "coffee")[ref.index % 2]
    folder = "textures" if background == "brick" else "images"
    return str((DATA_DIR / folder / f"{background}.png").resolve())


@pytest.mark.parametrize("seed", [0, 1, 7, 11])
def test_no_image_file_has_objects_on_both_sides_and_every_object_is_somewhere(tmp_path, seed):
    config = _config(tmp_path, f"tune = 0.5\nseed = {seed}", SCENES)
    tune, held = split_targets(config)
    tune_files = {_image_file(ref) for ref in tune}
    held_files = {_image_file(ref) for ref in held}
    assert tune and held and not tune_files & held_files
    assert sorted(r.id for r in tune + held) == sorted(r.id for r in target_refs(config))
    # the coffee photo's annotated cup and spoon go wherever its pasted faces go
    coffee = {r.id for r in tune + held if "coffee" in _image_file(r)}
    assert coffee <= {r.id for r in tune} or coffee <= {r.id for r in held}


def test_the_split_is_seeded(tmp_path):
    first = [r.id for r in split_targets(_config(tmp_path, "seed = 3"))[0]]
    again = [r.id for r in split_targets(_config(tmp_path, "seed = 3"))[0]]
    others = {tuple(r.id for r in split_targets(_config(tmp_path, f"seed = {s}"))[0]) for s in range(4, 10)}
    assert first == again and len(others | {tuple(first)}) > 1


@pytest.mark.parametrize("tune, images", [(0.25, 3), (0.5, 6), (0.9, 12), (0.01, 1), (0.99, 12)])
def test_the_tune_fraction_counts_images_leaving_one_on_each_side(tmp_path, tune, images):
    # 13 bundled images hold the 32 annotated objects, so 13 clusters
    tune_refs, held = split_targets(_config(tmp_path, f"tune = {tune}"))
    assert len({_image_file(ref) for ref in tune_refs}) == images
    assert len({_image_file(ref) for ref in held}) == 13 - images


@pytest.mark.parametrize("split, message", [
    ("tune = 1.0", "field 'split.tune' = 1.0 is out of range"),
    ("tune = 0", "field 'split.tune' = 0 is out of range"),
    ("seed = -1", "field 'split.seed' = -1 is out of range"),
    ('by = "object"', "(allowed: 'image': no image has objects on both sides)"),
    ("fraction = 0.5", "unknown field 'split.fraction'"),
])
def test_a_wrong_split_is_one_clear_error(tmp_path, split, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _config(tmp_path, split)


def test_one_image_cannot_be_split_and_validate_says_so_before_valid(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(CONFIG.replace('annotations = "all"', 'annotations = ["chelsea/left-eye", "chelsea/nose"]')
                    .format(split="tune = 0.5", synthetic=""))
    result = subprocess.run([sys.executable, "-m", "fractal_match", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "needs objects in at least 2 separate images" in result.stderr


@pytest.mark.parametrize("run", ["demo/quick", "invariance", "cnn/gray-square-paste", "cnn/gray", "cnn/color"])
def test_committed_runs_keep_their_config_digests(run):
    """New config fields (split, paste) must not change the digest of a config that does not use
    them: `run --resume` compares it with the manifest's."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "results" / run
    manifest = json.loads((folder / "manifest.json").read_text())
    assert load_config(folder / "config.toml").digest == manifest["config_hash"]


def test_validate_prints_both_sides(tmp_path):
    _config(tmp_path)
    result = subprocess.run([sys.executable, "-m", "fractal_match", "validate", str(tmp_path / "s.toml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tune = next(line for line in lines if line.strip().startswith("tune:"))
    held = next(line for line in lines if line.strip().startswith("held-out:"))
    tune_images = set(tune.split(": ", 2)[2].split(", "))
    held_images = set(held.split(": ", 2)[2].split(", "))
    assert not tune_images & held_images and len(tune_images | held_images) == 13
