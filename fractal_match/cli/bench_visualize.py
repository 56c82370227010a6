"""`fractal-match bench visualize`: how long a unit's visualization and ONet's classification take.

* One 48 px unit (ONet's face logit) at 512 steps, timed inside a fresh process each repeat, so
  that jax's compilation is included (the import of jax itself is reported apart).
* ONet's face probability for the 200 bundled LFW crops (resizing included), warm.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Callable

import numpy as np

from .._errors import FractalMatchError
from ._verdict import verdict
from ..progress import Progress, ensure

_FRESH = """
import json, time
started = time.perf_counter()
from fractal_match.templates.cnn.visualize import visualize
imported = time.perf_counter()
result = visualize({unit!r}, steps={steps}, seed=0)
done = time.perf_counter()
print(json.dumps({{"import_s": imported - started, "visualize_s": done - imported, "value": result.value}}))
"""

TARGET_VISUALIZE_S = 20.0
TARGET_CLASSIFY_S = 0.5


def bench_visualize(repeats: int = 3, quick: bool = False, echo: Callable[[str], None] = print,
                    progress: Progress | None = None) -> dict:
    from ..templates.cnn.analysis import lfw_crops
    from ..templates.cnn.nets import face_probability

    steps = 64 if quick else 512
    repeats = 1 if quick else repeats
    fresh = []
    with ensure(progress).step("visualizing onet/face in fresh processes", total=repeats) as task:
        for _ in range(repeats):
            out = subprocess.run([sys.executable, "-c", _FRESH.format(unit="onet/face", steps=steps)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                lines = out.stderr.strip().splitlines()
                raise FractalMatchError(f"bench visualize: the visualizing process failed: {lines[-1] if lines else out.returncode}")
            fresh.append(json.loads(out.stdout.strip().splitlines()[-1]))
            task.advance()
    faces, non_faces = lfw_crops()
    crops = np.concatenate([faces, non_faces])
    face_probability(crops, "onet")  # compile
    classify = []
    with ensure(progress).step("ONet on 200 crops", total=max(5, repeats * 5)) as task:
        for _ in range(max(5, repeats * 5)):
            start = time.perf_counter()
            face_probability(crops, "onet")
            classify.append(time.perf_counter() - start)
            task.advance()
    summary = {
        "visualize_s": float(np.median([r["visualize_s"] for r in fresh])),
        "jax_import_s": float(np.median([r["import_s"] for r in fresh])),
        "classify_200_s": float(np.median(classify)),
        "steps": steps,
    }
    echo(f"onet/face, 48 px, {steps} steps, compile included (median of {repeats} fresh processes): "
         f"{summary['visualize_s']:.2f} s (importing jax and the networks: {summary['jax_import_s']:.2f} s more)")
    echo(f"ONet on the 200 LFW crops (median of {len(classify)}): {summary['classify_200_s'] * 1e3:.1f} ms")
    summary["verdicts"] = [
        verdict("visualization seconds", summary["visualize_s"], "<=", TARGET_VISUALIZE_S),
        verdict("classification seconds", summary["classify_200_s"], "<=", TARGET_CLASSIFY_S),
    ]
    if not quick:
        for line in summary["verdicts"]:
            echo(line)
    return {"benchmark": "visualize", "repeats": repeats, "quick": quick, "fresh": fresh,
            "classify_s": classify, "summary": summary}
