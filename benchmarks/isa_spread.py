"""How far XLA's CPU rounding moves the shipped unit pictures: `python benchmarks/isa_spread.py
[--out FILE.json] [--isa native,AVX2,AVX,SSE4_2]`.

Each shipped picture (data/cnn/units/) is made again by its recipe with XLA generating code for
one instruction set at a time (``XLA_FLAGS=--xla_cpu_max_isa=...``, each in its own process) and
compared with the shipped file: the largest and mean pixel difference, the correlation, the
unit's value, and the face probability the picture's own network gives it. Another seed and
fewer steps are measured the same way. The recipe's fingerprint (its first 16 steps for one unit,
tests/data/recipe_fingerprint.npz) is measured under each instruction set and with each of the
recipe's constants changed a little, to show that the tests' thresholds catch a changed recipe.
The MTCNN forward pass is compared with the torch reference outputs of
tests/data/mtcnn_reference.npz under each instruction set too.

The tests' cross-machine thresholds (tests/test_cnn_kernels.py, tests/test_cnn.py) are set
from what this prints; results/bench/isa_spread.json holds the run they quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ISAS = ("native", "AVX2", "AVX", "SSE4_2")
#: Recipes that differ from the shipped one, made on this machine's own instruction set.
CHANGED = {"seed 1": {"seed": 1}, "256 steps": {"steps": 256}}
#: Changes to the recipe's constants (fractal_match.templates.cnn.visualize), for the fingerprint of its first steps.
CHANGED_CONSTANTS = {"learning rate 0.045": ("LEARNING_RATE", 0.045), "jitter 0.07": ("JITTER", 0.07),
                     "rotation 9": ("ROTATION", 9.0), "margin 0.2": ("PAD", 0.2)}


def compare(made, shipped) -> dict:
    import numpy as np

    a, b = made.astype(np.float64).ravel(), shipped.astype(np.float64).ravel()
    return {"max_diff": int(np.abs(a - b).max()), "mean_diff": round(float(np.abs(a - b).mean()), 3),
            "r": round(float(np.corrcoef(a, b)[0, 1]), 5)}


def fingerprint_here() -> dict:
    """The recipe's first steps (tests/data/recipe_fingerprint.npz) made again in this process."""
    import numpy as np

    from fractal_match.templates.cnn.visualize import visualize

    stored = np.load(ROOT / "tests" / "data" / "recipe_fingerprint.npz")
    made = visualize(str(stored["unit"]), steps=int(stored["steps"]), seed=int(stored["seed"]))
    history = stored["history"]
    return {**compare(made.picture, stored["picture"]),
            "history_change": float(np.abs(made.history - history).max() / np.abs(history).max())}


def measure_here(changed: bool) -> dict:
    """In this process (whose XLA_FLAGS are already set): every shipped picture made again."""
    import numpy as np

    from fractal_match.templates.cnn import nets
    from fractal_match.templates.cnn.pictures import SHIPPED_DIR, parse_request, shipped_units
    from fractal_match.templates.cnn.visualize import visualize
    from fractal_match.images import load_image, read_png_metadata

    pictures = {}
    for spec in shipped_units():
        request = parse_request(spec)
        path = SHIPPED_DIR / request.filename
        shipped = load_image(path, "color")
        stored = float(read_png_metadata(path)["value"])
        recipes = {"shipped recipe": {}} | (CHANGED if changed else {})
        for label, change in recipes.items():
            made = visualize(request.unit, size=request.side, steps=change.get("steps", request.steps),
                             seed=change.get("seed", request.seed))
            entry = {**compare(made.picture, shipped), "value": round(made.value, 4), "stored_value": stored,
                     "value_change": round(made.value / stored - 1.0, 5),
                     "face_probability": round(float(nets.face_probability(made.picture[None], request.unit.net)[0]), 5)}
            pictures.setdefault(request.unit.name, {})[label] = entry
    reference = np.load(ROOT / "tests" / "data" / "mtcnn_reference.npz")
    forward = {}
    for net in ("pnet", "rnet", "onet"):
        out = nets.forward(nets.params(net), net, reference[f"{net}/input"])
        forward[net] = {key: float(np.abs(np.asarray(out[key]) - reference[f"{net}/{key}"]).max())
                        for key in ("box", "probability")}
    return {"pictures": pictures, "forward_max_abs_diff": forward, "fingerprint": fingerprint_here()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "isa_spread.json")
    parser.add_argument("--isa", default=",".join(ISAS))
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # one instruction set, this process
    parser.add_argument("--changed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--constant", nargs=2, help=argparse.SUPPRESS)  # NAME VALUE: the fingerprint with it changed
    args = parser.parse_args()
    if args.constant:
        from fractal_match.templates.cnn import visualize

        setattr(visualize, args.constant[0], float(args.constant[1]))
        json.dump(fingerprint_here(), sys.stdout)
        return
    if args.here:
        json.dump(measure_here(args.changed), sys.stdout)
        return
    results = {}
    for isa in args.isa.split(","):
        env = dict(os.environ)
        if isa != "native":
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_cpu_max_isa={isa}".strip()
        command = [sys.executable, __file__, "--here"] + (["--changed"] if isa == "native" else [])
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        results[isa] = json.loads(done.stdout)
        print(f"{isa}: done", file=sys.stderr)
    changed = {}
    for label, (name, value) in CHANGED_CONSTANTS.items():
        done = subprocess.run([sys.executable, __file__, "--constant", name, str(value)], capture_output=True,
                              text=True, check=True)
        changed[label] = json.loads(done.stdout)
    from fractal_match.experiments.store import environment

    report = {"environment": environment(), "cpu": _cpu(), "isas": results, "fingerprint_changed_recipe": changed}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(table(report))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def table(report: dict) -> str:
    """A markdown table: one row per unit and instruction set (and changed recipe)."""
    lines = ["| unit | code for | recipe | max diff | mean diff | r | value change | face prob. |",
             "|---|---|---|---|---|---|---|---|"]
    for isa, found in report["isas"].items():
        for unit, recipes in found["pictures"].items():
            for label, e in recipes.items():
                lines.append(f"| {unit} | {isa} | {label} | {e['max_diff']} | {e['mean_diff']} | {e['r']} | "
                             f"{100 * e['value_change']:+.2f}% | {e['face_probability']} |")
    lines.append("")
    for isa, found in report["isas"].items():
        worst = max(v for net in found["forward_max_abs_diff"].values() for v in net.values())
        lines.append(f"forward pass vs torch reference, {isa}: largest difference {worst:.2e}")
    lines += ["", "| recipe fingerprint (first steps) | mean diff | max diff | r | objective change |",
              "|---|---|---|---|---|"]
    rows = [(f"code for {isa}", found["fingerprint"]) for isa, found in report["isas"].items()]
    rows += list(report["fingerprint_changed_recipe"].items())
    for label, e in rows:
        lines.append(f"| {label} | {e['mean_diff']} | {e['max_diff']} | {e['r']} | {e['history_change']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
