import numpy as np

from fractal_match import match_all, read_png_metadata
from fractal_match.detect import Variant
from fractal_match.report.figures import detection_grid, save_figure

METHODS = ("TM_SQDIFF", "TM_CCOEFF_NORMED")


def test_detection_grid_has_a_row_per_method_and_two_panels_per_variant(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (40, 50)).astype(np.uint8)
    variants = []
    for name, template in (("normal", target[5:15, 5:15]), ("flipped", target[5:15, 5:15][::-1, ::-1].copy())):
        responses = match_all(target, template, METHODS)
        variants.append(Variant(name, template, responses, {m: responses.best(m) for m in METHODS}))
    fig = detection_grid(target, variants, METHODS, truth=(5, 5, 10, 10), title="t")
    images = [ax for ax in fig.axes if ax.images]
    # header: one template per variant; body: response + detection per method and variant
    assert len(images) == 2 + 2 * 2 * len(METHODS)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "TM_SQDIFF (lower is better)" in titles and "TM_CCOEFF_NORMED (higher is better)" in titles
    png, svg = save_figure(fig, tmp_path / "grid", {"kernel": "k", "params": {"a": 1}})
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert read_png_metadata(png)["kernel"] == "k"
    assert "<svg" in svg.read_text()[:500]


def test_saved_figures_are_byte_for_byte_reproducible(tmp_path):
    from fractal_match.workflows import run_gallery

    first = run_gallery("bank:ring", size=32, out=tmp_path / "a.png")
    second = run_gallery("bank:ring", size=32, out=tmp_path / "b.png")
    for one, two in zip(first, second):
        assert one.read_bytes() == two.read_bytes()
