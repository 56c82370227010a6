"""Sweep benchmark: `python benchmarks/sweep.py [OUT.json]` (same as `fractal-match bench sweep`)."""

import sys

from fractal_match.bench import run_benchmark

if __name__ == "__main__":
    run_benchmark("sweep", out=sys.argv[1] if len(sys.argv) > 1 else None)
