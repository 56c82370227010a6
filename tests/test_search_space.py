"""Every family's search space: what is searched, what is held and why, and that every point of
it is a valid template."""

from __future__ import annotations

import numpy as np
import pytest

from fractal_match import FAMILIES, fractalize
from fractal_match import ParameterError
from fractal_match.search.space import SWITCHES, sample, search_space

SEARCHED = [name for name, family in FAMILIES.items() if family.kind in ("fractal", "control")]


@pytest.mark.parametrize("family", SEARCHED)
def test_every_sampled_point_is_a_valid_template(family):
    space = search_space(family)
    rng = np.random.default_rng(0)
    kernel = np.random.default_rng(1).random((24, 24))
    for _ in range(6):
        params, switches = space.params(sample(space, rng))
        assert set(switches) == set(SWITCHES)
        template = fractalize(kernel, family, size=24, **params)
        assert template.image.shape[:2] == (24, 24) and np.isfinite(template.image).all()


@pytest.mark.parametrize("family", SEARCHED)
@pytest.mark.parametrize("end", ["low", "high"])
def test_the_corners_of_every_space_are_valid_templates(family, end):
    space = search_space(family)
    point = {d.name: (d.choices[0] if end == "low" else d.choices[-1]) if d.kind == "categorical"
             else (d.low if end == "low" else d.high) for d in space.dimensions}
    point = {k: int(v) if any(d.name == k and d.kind == "int" for d in space.dimensions) else v
             for k, v in point.items()}
    params, _ = space.params(point)
    template = fractalize(np.random.default_rng(2).random((24, 24)), family, size=24, **params)
    assert np.isfinite(template.image).all()


def test_what_is_held_and_why():
    assert search_space("shrunk-pad", {"like": "orbit-trap"}).fixed == {"like": "orbit-trap"}
    assert "mirrors" in search_space("scrambled").reasons["through"]
    assert "noise" in search_space("scrambled").reasons["seed"]
    assert search_space("harmonic").fixed == {"orders": "0"}
    assert search_space("blur", {"match": "ifs"}).fixed == {"match": "ifs"}
    names = {d.name for d in search_space("orbit-trap").dimensions}
    assert {"c.real", "c.imag", "mode", "degree", "color", "template_masks"} <= names
    assert not search_space("orbit-trap").fixed  # a fractal's every parameter is searched


def test_wide_ranges_are_searched_on_a_log_scale_and_narrow_ones_not():
    dims = {d.name: d for d in search_space("orbit-trap").dimensions}
    assert dims["zoom"].log and dims["iterations"].log and dims["iterations"].kind == "int"
    assert dims["trap_half"].log  # 0.01 to 2: two orders of magnitude
    assert not dims["degree"].log and not dims["background"].log and not dims["c.real"].log


def test_points_outside_the_declared_range_are_refused_by_the_family():
    space = search_space("ifs")
    point = sample(space, np.random.default_rng(0))
    point["scale"] = 0.9  # declared 0.2 to 0.6
    with pytest.raises(ParameterError, match="scale"):
        space.params(point)


def test_an_unknown_family_is_one_clear_error():
    with pytest.raises(ParameterError, match="unknown family"):
        search_space("mandelbulb")


@pytest.mark.parametrize("family", SEARCHED)
def test_a_point_read_back_from_its_parameters_is_the_same_point(family):
    from fractal_match.experiments.config import Variant
    from fractal_match.search.space import bank_space, variant_point

    space = search_space(family)
    rng = np.random.default_rng(2)
    for _ in range(6):
        point = sample(space, rng)
        again = space.point(*space.params(point))
        assert again.keys() == point.keys()
        assert all(again[k] == pytest.approx(v) if isinstance(v, float) else again[k] == v for k, v in point.items())
    defaults = variant_point(space, Variant(family, family), color=True, masks=False)
    assert space.params(defaults)[0] == FAMILIES[family].resolve({})
    assert (defaults["color"], defaults["template_masks"]) == (True, False)
    bank = bank_space()
    assert variant_point(bank, Variant("bank", "bank", rotations=(30.0,), scales=(0.5,)), False, True) == {
        "rotation": 30.0, "scale": 0.5, "color": False, "template_masks": True}
    with pytest.raises(ValueError, match="bank.rotation = 270.0 is outside the searched range -180 to 180"):
        variant_point(bank, Variant("bank", "bank", rotations=(270.0,), scales=(1.0,)), False, False)
