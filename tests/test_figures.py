import numpy as np

from fractal_match import match_all, read_png_metadata
from fractal_match.engine.detect import Variant
from fractal_match.report.figures import _HIT, _MISS, _UNJUDGED, detection_grid, save_figure

METHODS = ("TM_SQDIFF", "TM_CCOEFF_NORMED")


def _pixels(canvas, colour, tolerance=25):
    return (np.abs(canvas[:, :, :3].astype(int) - np.array(colour)) <= tolerance).all(axis=2)


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
    # nothing was judged: the boxes are magenta, the crosses white, and no pixel is a miss's red
    assert not _pixels(canvas, _MISS).any()
    assert _pixels(canvas, _UNJUDGED).sum() > 4 * 2 * len(METHODS) * 10  # a box per detection panel
    assert _pixels(canvas, (255, 255, 255)).sum() > 2 * len(METHODS) * 20  # a cross per map
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


def _grid(hits=None):
    rng = np.random.default_rng(1)
    target = rng.integers(0, 256, (40, 50)).astype(np.uint8)
    template = target[5:15, 5:15]
    responses = match_all(target, template, METHODS)
    variant = Variant("crop", template, responses, {m: responses.best(m) for m in METHODS})
    fig = detection_grid(target, [variant], METHODS, truth=(5, 5, 10, 10), title="t", hits=hits)
    return fig.images[0].get_array()


def test_each_colour_means_one_thing_in_every_detection_figure():
    """Green a hit, red a miss, magenta a detection nobody judged; a map's best position is a white
    cross, never red (a red cross beside a green box read as 'wrong')."""
    hit, miss = _grid({("crop", m): True for m in METHODS}), _grid({("crop", m): False for m in METHODS})
    assert _pixels(hit, _HIT).sum() > 40 and not _pixels(hit, _MISS).any() and not _pixels(hit, _UNJUDGED).any()
    assert _pixels(miss, _MISS).sum() > 40 and not _pixels(miss, _HIT).any()
    import matplotlib.colors

    from fractal_match.report import figures
    from fractal_match.report.plots import _SAFE
    assert figures._CROSS == (255, 255, 255)
    for colour in _SAFE:  # no line colour of the summary plots is a hit's green, a miss's red or unjudged
        rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
        assert min(np.abs(rgb - np.array(c)).max() for c in (_HIT, _MISS, _UNJUDGED)) > 40


def _summary_rows(methods, variants, rate=lambda m, v, x: 0.0):
    rows = []
    for m in methods:
        for v in variants:
            rows.append({"method": m, "variant": v, "scale": "all", "rotation": "all", "kernel": "all",
                         "hit_rate": 0.5, "hits": 4, "n": 8})
            for rotation in (0, 30, 90):
                hits = int(round(8 * rate(m, v, rotation)))
                rows.append({"method": m, "variant": v, "scale": 1.0, "rotation": rotation, "kernel": "all",
                             "hit_rate": hits / 8, "hits": hits, "n": 8})
    return rows


def test_no_title_or_label_of_a_summary_figure_is_clipped(tmp_path):
    """The title's box (every drawn word's) lies inside the saved figure, for 1 to 12 variants
    with long names; the check itself finds the clipped title the heatmap had before fitting."""
    from fractal_match.report.figures import overflow
    from fractal_match.report.plots import hit_rate_curves, hit_rate_heatmap

    methods = ["TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED"]
    unfitted = hit_rate_heatmap(_summary_rows(methods, ["none", "orbit-trap", "shrunk-pad", "bank"]), methods,
                                ["none", "orbit-trap", "shrunk-pad", "bank"])
    assert overflow(unfitted)[0] > 0.05  # what the tutorial's hit_rate.png showed: "...objects and pose"
    for count in (1, 4, 12):
        variants = ["none", *[f"a-rather-long-variant-name-{i}" for i in range(count - 1)]]
        rows = _summary_rows(methods, variants)
        for name, fig in (("heatmap", hit_rate_heatmap(rows, methods, variants)),
                          ("rotation", hit_rate_curves(rows, methods[:2], variants, "rotation"))):
            save_figure(fig, tmp_path / f"{name}-{count}", {})
            assert overflow(fig) == (0.0, 0.0), (name, count)


def test_lines_with_equal_rates_stay_distinguishable():
    """Three variants at 0 at every pose: their markers stand apart on the page and their lines
    differ in width, so none hides another."""
    from fractal_match.report.plots import hit_rate_curves

    variants = ["none", "orbit-trap", "shrunk-pad"]
    fig = hit_rate_curves(_summary_rows(["TM_SQDIFF"], variants), ["TM_SQDIFF"], variants, "rotation")
    fig.draw_without_rendering()
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in variants]
    assert len(lines) == 3
    starts = [line.get_transform().transform(line.get_xydata())[0] for line in lines]
    xs = sorted(point[0] for point in starts)
    assert min(b - a for a, b in zip(xs, xs[1:])) >= 4  # pixels between markers at the same pose
    assert len({round(point[1], 3) for point in starts}) == 1  # never moved up or down: the values are exact
    assert len({line.get_linewidth() for line in lines}) == 3
    assert len({line.get_marker() for line in lines}) == 3
