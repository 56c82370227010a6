from pathlib import Path

import pytest

from fractal_match import ConfigError
from fractal_match.experiments.config import load_config
from fractal_match.datasets import DATA_DIR
from fractal_match.experiments.plan import count_cases, expand

GOOD = """
name = "t"
seed = 3
kernels = ["crop", "learned:mean-face"]
[targets]
annotations = ["astronaut/face"]
[transforms]
scales = [0.8, 1.0]
rotations = [0, 45]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
params = { degree = 3 }
[[variants]]
family = "bank"
rotations = [0, 45]
scales = [1.0]
[matching]
methods = ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
"""


def write(tmp_path, text, name="c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_config_expands_to_cases(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.name == "t" and config.seed == 3 and config.methods == ("TM_CCOEFF_NORMED", "TM_SQDIFF")
    assert config.variants[1].params["degree"] == 3 and config.variants[1].params["c"] == complex(0.616, -0.04)
    groups = expand(config)
    assert len(groups) == 4
    assert count_cases(config) == (4 * 2 * 3, 4 * 2 * (1 + 1 + 2))  # template matches: all methods at once
    # the hash is of the content, not of comments or layout
    again = load_config(write(tmp_path, "# a comment\n" + GOOD, "d.toml"))
    assert again.digest == config.digest
    changed = load_config(write(tmp_path, GOOD.replace("seed = 3", "seed = 4"), "e.toml"))
    assert changed.digest != config.digest


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('name = "t"', "name = 5"), "field 'name' must be str, got int 5"),
    (lambda t: t.replace('name = "t"\n', ""), "missing field 'name'"),
    (lambda t: t.replace("seed = 3", "seed = 3\ncolour = true"), "unknown field 'colour'"),
    (lambda t: t.replace("scales = [0.8, 1.0]", "scales = []"), "field 'transforms.scales' is empty"),
    (lambda t: t.replace("rotations = [0, 45]\n[[", "rotations = []\n[["), "field 'transforms.rotations' is empty"),
    (lambda t: t.replace("scales = [0.8, 1.0]", "scales = [0, 1]"), "out of range"),
    (lambda t: t.replace("scales = [0.8, 1.0]", "scales = [0.8, 'x']"), "must hold numbers"),
    (lambda t: t.replace('family = "none"', 'family = "mandelbrot"'), "variants[0].family' 'mandelbrot' is unknown"),
    (lambda t: t.replace("degree = 3", "degree = 9"), "degree = 9 is out of range"),
    (lambda t: t.replace("degree = 3", "dgree = 3"), "unknown parameter 'dgree'"),
    (lambda t: t.replace('"astronaut/face"', '"astronaut/nose"'), "unknown object 'astronaut/nose'"),
    (lambda t: t.replace('"learned:mean-face"', '"learned:cat"'), "field 'kernels': learned:cat: unknown learned kernel 'cat'"),
    (lambda t: t.replace('"TM_SQDIFF"]', '"TM_SQDIF"]'), "unknown method 'TM_SQDIF'"),
    (lambda t: t + "[evaluation]\ntop_k = 0\n", "field 'evaluation.top_k' = 0 is out of range"),
    (lambda t: t + "[evaluation]\nhit = 'box'\n", "field 'evaluation.hit' = 'box' is not allowed"),
    (lambda t: t.replace("[targets]", "[targets]\npairs = 'nowhere'"), "field 'targets.pairs' 'nowhere' does not exist"),
    (lambda t: t.replace('annotations = ["astronaut/face"]', ""), "field 'targets' selects nothing"),
    (lambda t: t + "[[variants]]\nfamily = 'none'\n", "field 'variants[3].name' 'none' is used twice"),
    (lambda t: t.replace("name = ", "name = = "), "invalid TOML"),
])
def test_config_errors_name_the_file_and_field(tmp_path, edit, message):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_shipped_configs_are_valid():
    for path in sorted((DATA_DIR / "experiments").glob("*.toml")):
        config = load_config(path)
        assert expand(config)
    invariance = load_config(DATA_DIR / "experiments" / "invariance.toml")
    assert len({a.split("/")[0] for a in invariance.targets.annotations}) >= 6
    assert len(invariance.kernels) >= 4 and len(invariance.rotations) == 12 and len(invariance.scales) == 11
    families = {v.family for v in invariance.variants}
    assert families >= {"none", "orbit-trap", "ifs", "droste", "scale-sum", "rot-sym", "harmonic", "blur",
                        "shrunk-pad", "scrambled", "flip", "bank", "oracle"}
