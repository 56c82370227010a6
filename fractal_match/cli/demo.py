"""The demo: the original experiment made real on bundled data, then a small batch run."""

from __future__ import annotations

from pathlib import Path

from .._checks import check_output_dir
from .._errors import FractalMatchError
from .._data import DATA_DIR
from ..engine._methods import METHODS
from .._version import __version__
from ..experiments.config import load_config
from ..datasets import find_annotation, load_annotations
from ..engine.detect import Detection, detect
from ..templates.fractal import fractalize
from ..images import load_image, on_target_scale
from ..templates.kernels import load_kernel
from ..progress import Progress, ensure
from ..experiments.plan import make_plan
from ..experiments.runs import run_experiment, run_progress
from .workflows import run_gallery, write_detection

#: The demo: the original experiment on its own photo, the OpenCV tutorial's messi5.jpg (shipped with
#: study 5's photos), and its kind of kernel made real: the feature visualization of the face unit
#: of a trained face detector (MTCNN's ONet, shipped as a picture), sized as a run sizes a kernel
#: (its longer side that of Messi's face box; ONet sees a whole face box in its 48 px), as itself,
#: as an orbit-trap fractal at malinc's defaults, and as two controls that share the fractal's
#: confounds (a shrunk copy on the same background; the same trap geometry without the face's
#: content). Gray, as in the OpenCV tutorial loop the original ran.
DEMO_TARGET = "study5/images/messi5.jpg"
DEMO_OBJECT = "messi5/face"
DEMO_KERNEL = "cnn:onet/face"
DEMO_KERNEL_LABEL = "ONet face unit"
DEMO_VARIANTS = (("orbit-trap", {}), ("shrunk-pad", {"like": "orbit-trap"}), ("scrambled", {"through": "orbit-trap"}))


def _compact_figure(detection: Detection, out: Path, metadata: dict, truth, task, svg: bool = False) -> list[Path]:
    """The figure the README leads with: one row per method, the plain kernel and its orbit trap."""
    from ..report.figures import detection_grid, save_figure

    shown = detection.variants[:2]
    title = ("visualized ONet face unit vs its orbit-trap fractal, messi5.jpg (dashed blue: the true face; the best "
             "match green if it hits, red if not)")
    hits = {(v.name, m): detection.judgement(v, v.best[m])[0] for v in shown for m in detection.methods}
    figure = detection_grid(detection.target, shown, detection.methods, truth=truth, title=title, panel=2.7, hits=hits)
    return save_figure(figure, out / "detection_compact", metadata, on_saved=task.advance, svg=svg)


def default_out() -> Path:
    """A new folder for each demo: results/demo-<UTC time> (the committed example is results/demo)."""
    from datetime import datetime, timezone

    return Path("results") / f"demo-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"


def run_demo(out=None, batch: bool = True, progress: Progress | None = None,
             svg: bool = False) -> tuple[Detection, list[Path], dict | None]:
    """The original experiment done properly on bundled data: the visualized ONet face unit, its orbit-trap
    fractal (malinc's defaults) and two controls, all six methods, against the astronaut; then
    (with `batch`) the small batch run data/experiments/quick.toml into `out`/quick and its
    report. `out` must be new or empty (default: :func:`default_out`): the demo always runs."""
    out = check_output_dir(Path(out) if out is not None else default_out())
    if out.exists() and any(out.iterdir()):
        raise FractalMatchError(f"{out}: already holds files; the demo writes a new folder (choose a new or empty --out)")
    progress = ensure(progress)
    target_path = DATA_DIR / DEMO_TARGET
    target = load_image(target_path, "gray")
    kernel = load_kernel(DEMO_KERNEL)
    truth = find_annotation(DEMO_OBJECT, load_annotations(DATA_DIR / "study5" / "annotations.toml")).box
    size = int(round(max(truth.w, truth.h)))  # as a run's kernel_size = "object" sizes it
    templates = [fractalize(kernel, "none", size=size)]
    templates += [fractalize(kernel, name, size=size, **params) for name, params in DEMO_VARIANTS]
    entries = [(DEMO_KERNEL_LABEL if t.family == "none" else t.family, on_target_scale(t.image, target), None) for t in templates]
    detection = detect(target, entries, METHODS, top_k=3, progress=progress)
    metadata = {"command": "demo", "version": __version__, "target": f"data/{DEMO_TARGET}",
                "kernel": DEMO_KERNEL, "size": size, "truth": list(truth),
                "variants": [{"family": t.family, "params": t.metadata()["params"]} for t in templates]}
    title = (f"visualized ONet face unit ({DEMO_KERNEL}) vs messi5.jpg: normal, orbit trap (malinc defaults) "
             "and two controls (dashed blue: true face; centre rule, green: hit, red: miss)")
    from ..engine.metrics import Truth

    detection.judge(Truth(truth, truth.center, (truth.w, truth.h), "center", footprint=(size, size)))
    written = write_detection(detection, out, title, metadata, truth=truth, progress=progress, svg=svg)
    with progress.step("drawing the compact figure", total=1 + svg) as task:
        written += _compact_figure(detection, out, metadata, truth, task, svg)
    with progress.step("drawing the gallery", total=1) as task:
        written += run_gallery(DEMO_KERNEL, size=128, out=out / "gallery.png", svg=svg)
        task.advance()
    summary = None
    if batch:
        from ..report import make_report

        folder = out / "quick"
        plan = make_plan(load_config("quick"))
        summary = run_experiment(plan, folder, progress=run_progress(progress, plan))
        written += [folder / "results.csv", make_report(folder, progress=progress, svg=svg) / "index.html"]
    return detection, written, summary
