"""Does the compiler vectorise the hot kernels? For each compiled kernel of a match and a sweep,
the machine code numba made for this CPU (``inspect_asm()`` of the dispatcher) is read and its
float instructions counted: packed (``...ps``/``...pd``: several numbers per instruction, on
xmm, ymm or zmm registers) against scalar (``...ss``/``...sd``: one number each). A kernel whose
float work is mostly scalar is not vectorised.

The kernels are compiled afresh in a temporary numba cache (machine code read back from a cache
has no assembly to show). NUMBA_CPU_NAME=haswell shows them as an AVX2 machine would get them.
Usage (from the repository):

    python benchmarks/vectorised.py [--json FILE] [--repeats N]

--repeats N also times each kernel on a 1024x768 target (median of N calls, one thread).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

PACKED = re.compile(r"^v?\w+p[sd]$")  # vaddps, vmulpd, vfmadd213ps, vcvtps2pd ...
SCALAR = re.compile(r"^v?\w+s[sd]$")  # vaddss, vmulsd, vcvtss2sd ...
INTEGER = re.compile(r"^v?p")  # vpmaxsd, vpminsd, vpabsd ...: packed integer, not float
MOVES = re.compile(r"^v?(mov|unpck|shuf|perm|blend|broadcast|extract|insert|and|or|xor|andn)")


def count(asm: str) -> dict:
    """Float instruction counts of one kernel's assembly (moves and shuffles left out)."""
    packed = scalar = wide = 0
    for line in asm.splitlines():
        if not line.startswith("\t"):
            continue
        words = line.split()
        if not words or words[0].startswith("."):
            continue
        op = words[0]
        if MOVES.match(op) or INTEGER.match(op):
            continue
        if PACKED.match(op):
            packed += 1
            wide += ("%ymm" in line) or ("%zmm" in line)
        elif SCALAR.match(op):
            scalar += 1
    share = packed / max(1, packed + scalar)
    return {"packed": packed, "packed_256_512_bit": wide, "scalar": scalar, "packed_share": share}


def kernels(repeats: int) -> list[dict]:
    """Compile and read each hot kernel (after running it once on a representative input)."""
    import timeit

    import cv2
    import numpy as np

    from fractal_match.engine import _fused, _measures, _scan, _targets
    from fractal_match.engine._methods import FLAT_RTOL
    from fractal_match.engine.matching import check_template

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), (0, 0), 2)
    found = []
    for channels in (1, 3):
        target = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY) if channels == 1 else base
        template = target[256:288, 341:373].copy()
        h, w = template.shape[:2]
        cc = cv2.matchTemplate(target, template, cv2.TM_CCORR)[None]
        ny, nx = cc.shape[1:]
        squares, sums, centred, _ = check_template(template, ())  # as the passes take a template's terms
        tsq, tmean, tvar = np.array([squares]), np.array([sums / (h * w)]), np.array([centred])
        image = target.reshape(target.shape[0], target.shape[1], channels)
        out = np.empty((1, 5, ny, nx), np.float32)
        flags = np.empty((ny, nx), np.uint8)
        derive = _fused.derive_gray if channels == 1 else _fused.derive_colour
        sums = _targets.integrals(target)
        scan = _measures.scan_gray if channels == 1 else _measures.scan_colour
        wanted = np.ones((1, 6), np.bool_)
        region = np.ones((8, 8), np.bool_)
        calls = [
            (derive, (cc, image, h, w, tsq, tmean, tvar, FLAT_RTOL, 0, ny, np.int64(0), out, flags),
             "the five derived maps (match_all)"),
            (scan, (cc, *sums, h, w, tsq, tmean, tvar, FLAT_RTOL, wanted, np.ones(1, np.bool_), region, 100, 100, 5120),
             "a full pass: six scores and their measures (runs)"),
            (scan, (cc, *sums, h, w, tsq, tmean, tvar, FLAT_RTOL, wanted, np.zeros(1, np.bool_), region, 100, 100, 0),
             "a best-only pass (bank members)"),
        ]
        if channels == 1:
            score = out[0, 2].copy()
            calls += [(_fused.scan_map, (score, np.float32(-np.inf)), "one map's reduction (evaluate)"),
                      (_fused.local_maxima, (score, np.float32(-np.inf)), "one map's local maxima (peaks)"),
                      (_scan._kth_largest, (score.ravel(), 320), "the k-th best candidate (peak order)")]
        for dispatcher, args, what in calls:
            dispatcher(*args)
            seconds = (float(np.median(timeit.repeat(lambda: dispatcher(*args), number=1, repeat=repeats)))
                       if repeats else None)
            for signature, asm in dispatcher.inspect_asm().items():
                if str(signature) != str(dispatcher.nopython_signatures[-1].args):
                    continue
                found.append({"kernel": dispatcher.py_func.__name__, "channels": channels, "what": what,
                              "ms": None if seconds is None else seconds * 1e3, **count(asm)})
    return found


def main(argv: list[str]) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Count packed (vector) against scalar float instructions in the "
                                     "machine code of each hot compiled kernel, on this CPU.")
    parser.add_argument("--json", type=Path, help="also write the counts to this file")
    parser.add_argument("--repeats", type=int, default=0, help="also time each kernel: median of N calls (default 0)")
    args = parser.parse_args(argv)
    if args.repeats < 0:
        parser.error(f"--repeats {args.repeats}: must be 0 or more")
    cache = tempfile.mkdtemp(prefix="fractal-match-asm-")
    os.environ["NUMBA_CACHE_DIR"] = cache  # compile afresh: machine code read from a cache has no asm
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from numba.core.config import CPU_NAME
    import llvmlite.binding as llvm

    cpu = CPU_NAME or llvm.get_host_cpu_name()
    try:
        rows = kernels(args.repeats)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"machine code for CPU '{cpu}': float instructions per kernel (moves and shuffles left out)")
    print(f"{'kernel':>14} {'ch':>2} {'packed':>7} {'256/512':>8} {'scalar':>7} {'packed %':>9} {'ms':>7}  what")
    for row in rows:
        ms = "" if row["ms"] is None else f"{row['ms']:.2f}"
        print(f"{row['kernel']:>14} {row['channels']:>2} {row['packed']:>7} {row['packed_256_512_bit']:>8} "
              f"{row['scalar']:>7} {100 * row['packed_share']:>8.0f}% {ms:>7}  {row['what']}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "kernels": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
