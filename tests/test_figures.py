import numpy as np

from fractal_match import match_all, read_png_metadata
from fractal_match.engine.detect import Variant
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
    # one raster holds every panel; the words are text
    (raster,) = fig.images
    canvas = raster.get_array()
    assert canvas.shape[:2] == (round(fig.get_figheight() * fig.dpi), round(fig.get_figwidth() * fig.dpi))
    texts = [t.get_text() for t in fig.texts]
    # header: one template per variant; body: response + detection per method and variant
    assert sum(t.startswith("template: ") for t in texts) == 2
    for method, direction in (("TM_SQDIFF", "lower"), ("TM_CCOEFF_NORMED", "higher")):
        for name in ("normal", "flipped"):
            assert f"{method} ({direction} is better)\n{name}: response" in texts
    best = [t for t in texts if ": best at (" in t]
    assert len(best) == 2 * len(METHODS) and "normal: best at (5, 5)" in best
    red = (canvas[:, :, 0] > 200) & (canvas[:, :, 1] < 60) & (canvas[:, :, 2] < 60)
    assert red.sum() > 4 * 2 * 2 * len(METHODS) * 10  # a cross per map and a box per detection panel
    blue = (canvas[:, :, 0] < 30) & (canvas[:, :, 1] > 150) & (canvas[:, :, 2] > 230)
    assert blue.any()  # the dashed true box
    assert [p.name for p in save_figure(fig, tmp_path / "only", {})] == ["only.png"]  # SVG only when asked
    png, svg = save_figure(fig, tmp_path / "grid", {"kernel": "k", "params": {"a": 1}}, svg=True)
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert read_png_metadata(png)["kernel"] == "k"
    assert "<svg" in svg.read_text()[:500]


def test_saved_figures_are_byte_for_byte_reproducible(tmp_path):
    from fractal_match.cli.workflows import run_gallery

    first = run_gallery("bank:ring", size=32, out=tmp_path / "a.png", svg=True)
    second = run_gallery("bank:ring", size=32, out=tmp_path / "b.png", svg=True)
    assert len(first) == 2
    for one, two in zip(first, second):
        assert one.read_bytes() == two.read_bytes()


def _panel(response, method, match, degenerate=None):
    from matplotlib.figure import Figure

    from fractal_match.report.figures import plot_response

    fig = Figure(figsize=(3, 3))
    ax = fig.subplots()
    plot_response(ax, response, method, match, degenerate)
    fig.canvas.draw()
    return fig, ax


def test_a_flat_map_says_so_and_a_varied_one_does_not():
    from fractal_match import Match

    flat, ax = _panel(np.ones((20, 30), np.float32), "TM_SQDIFF_NORMED", Match(0, 0, 1.0))
    assert any(t.get_text() == "flat: every position ties" for t in ax.texts)
    ramp = np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30)
    varied, ax = _panel(ramp, "TM_CCORR_NORMED", Match(29, 19, 1.0))
    assert not ax.texts


def test_colour_bars_show_the_scores_without_an_offset_and_markers_are_not_clipped():
    from fractal_match import Match

    values = (1 - np.linspace(0, 1.6e-7, 600)).astype(np.float32).reshape(20, 30)  # 0.99999984 .. 1
    fig, ax = _panel(values, "TM_CCORR_NORMED", Match(29, 0, 1.0))  # best at the corner
    bar = ax.images[0].colorbar.ax  # the colour bar of the map, wherever it is placed
    assert bar.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert labels and all(float(label.replace("−", "-")) > 0.9 for label in labels)
    (marker,) = ax.lines
    assert marker.get_clip_on() is False


def test_gallery_columns_leave_the_fewest_empty_cells():
    from types import SimpleNamespace

    from fractal_match.report.figures import gallery

    kernel = np.zeros((8, 8), np.float32)
    for count, columns in ((7, 4), (8, 3), (11, 6), (12, 5)):  # count + 1 cells with the kernel
        shown = [SimpleNamespace(image=kernel, mask=None, family=str(i)) for i in range(count)]
        fig = gallery(kernel, shown)
        grid = fig.axes[0].get_subplotspec().get_gridspec()
        assert grid.ncols == columns, (count, grid.ncols)
