"""Fuzzing: the matcher against OpenCV, every generator over its parameter ranges, and config
loading with random TOML. Only agreement, valid output, or our own clear errors are allowed."""

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fractal_match import ConfigError
from fractal_match.experiments.config import load_config
from fractal_match.templates.fractal import FAMILIES, fractalize
from test_matching import assert_agrees, random_mask, shapes

# -- the matcher: 1,000 random cases against cv2.matchTemplate ------------------------------------


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, st.sampled_from(["uint8", "uint16", "float32"]), st.sampled_from([1, 3]),
       st.sampled_from([None, "binary", "weights"]), st.sampled_from(["noise", "flat-patches", "near-flat"]),
       st.integers(0, 2**32 - 1))
# found by this test in CI: a masked window of an all-black patch had an FFT energy of rounding
# noise, not zero, so TM_SQDIFF_NORMED divided noise by noise instead of marking it degenerate
@example(shape=(41, 41, 5, 10), dtype="uint8", channels=1, mask_kind="binary", texture="flat-patches", seed=33)
# found in CI: a covariance near zero cancels in OpenCV's float32 TM_CCOEFF (off by 0.4%; ours equals
# the float64 truth): such a case is judged by the truth
@example(shape=(34, 34, 34, 34), dtype="float32", channels=1, mask_kind="binary", texture="flat-patches", seed=43)
def test_matcher_agrees_with_opencv_on_a_thousand_cases(shape, dtype, channels, mask_kind, texture, seed):
    rng = np.random.default_rng(seed)
    H, W, h, w = shape
    extra = () if channels == 1 else (3,)
    top = {"uint8": 255, "uint16": 65535, "float32": 1.0}[dtype]
    target = rng.random((H, W) + extra) * top
    if texture == "flat-patches":
        target[: H // 2, : W // 2] = rng.random() * top
    elif texture == "near-flat":
        target = top * 0.5 + (target - top / 2) * 1e-3
    template = rng.random((h, w) + extra) * top
    cast = (lambda a: np.clip(np.rint(a), 0, top).astype(dtype)) if dtype != "float32" else (lambda a: a.astype(np.float32))
    responses = assert_agrees(cast(target), cast(template), random_mask(rng, h, w, mask_kind))
    if responses is not None:
        for response in responses.values():
            assert np.isfinite(response).all()


# -- every generator over its parameter ranges ---------------------------------------------------

def _value(param, draw):
    if param.choices is not None:
        return draw(st.sampled_from(param.choices))
    if param.kind is bool:
        return draw(st.booleans())
    if param.kind is int:
        return draw(st.integers(int(param.low), int(min(param.high, param.low + 40))))
    if param.kind is complex:
        part = st.floats(param.low, param.high, allow_nan=False)
        return complex(draw(part), draw(part))
    if param.kind is float:
        return draw(st.floats(param.low, param.high, allow_nan=False))
    return param.default


@st.composite
def family_and_params(draw):
    name = draw(st.sampled_from(sorted(FAMILIES)))
    params = {}
    for param in FAMILIES[name].params:
        if draw(st.booleans()):
            if name == "harmonic" and param.name == "orders":
                params["orders"] = ",".join(str(v) for v in draw(st.lists(st.integers(0, 7), min_size=1, max_size=4)))
            elif param.name == "iterations":
                params[param.name] = draw(st.integers(int(param.low), int(min(param.high, 60))))
            else:
                params[param.name] = _value(param, draw)
    return name, params


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family_and_params(), st.integers(4, 48), st.sampled_from([1, 3]), st.integers(0, 2**32 - 1))
def test_every_generator_gives_valid_templates_over_its_parameter_ranges(spec, size, channels, seed):
    name, params = spec
    rng = np.random.default_rng(seed)
    kernel = rng.random((int(rng.integers(2, 40)), int(rng.integers(2, 40))) + (() if channels == 1 else (3,)))
    template = fractalize(kernel.astype(np.float32), name, size=size, **params)
    image = template.image
    assert image.dtype == np.float32 and np.isfinite(image).all()
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert max(image.shape[:2]) == size and image.ndim == kernel.ndim
    if template.mask is not None:
        assert template.mask.shape == image.shape[:2] and np.isfinite(template.mask).all()
        assert template.mask.min() >= 0.0 and template.mask.max() <= 1.0


# -- config loading with random TOML --------------------------------------------------------------

KEYS = ["name", "seed", "targets", "transforms", "kernels", "variants", "matching", "evaluation", "annotations",
        "scales", "rotations", "family", "params", "methods", "top_k", "hit", "degree", "x", "synthetic", "count"]
scalars = st.one_of(st.integers(-5, 5), st.floats(-3, 3, allow_nan=False), st.booleans(),
                    st.sampled_from(["all", "none", "orbit-trap", "crop", "astronaut/face", "TM_SQDIFF", "", "x/y"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=12)


def to_toml(document: dict) -> str:
    """A tiny TOML writer (inline tables and arrays) for the fuzzer."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if not (isinstance(v, float) and math.isinf(v)) else "inf"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
    return "\n".join(f"{k} = {value(v)}" for k, v in document.items()) + "\n"


BASE = {"name": "fuzz", "seed": 0, "kernels": ["crop"], "targets": {"annotations": ["coins/coin-3"]},
        "transforms": {"scales": [1.0], "rotations": [0]}, "variants": [{"family": "none"}]}


def test_random_configs_give_only_clear_errors(tmp_path):
    """Random documents, and valid configs with random fields overridden: loading either works or
    raises one ConfigError line that names the file. The fuzzer must reach past TOML parsing."""
    outcomes = {"loaded": 0, "field errors": 0, "toml errors": 0}
    path = tmp_path / "fuzz.toml"

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8), st.booleans(), st.binary(max_size=30))
    def check(document, from_valid, junk):
        text = to_toml({**BASE, **document} if from_valid else document)
        for variant in (text, text + junk.decode("latin-1")):
            path.write_text(variant, encoding="utf-8")
            try:
                load_config(path)
                outcomes["loaded"] += 1
            except ConfigError as exc:
                message = str(exc)
                assert message.startswith(str(path)) and "\n" not in message
                outcomes["toml errors" if "invalid TOML" in message else "field errors"] += 1

    check()
    assert outcomes["loaded"] >= 1 and outcomes["field errors"] > 100, outcomes
