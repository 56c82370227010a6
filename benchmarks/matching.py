"""The matching benchmark: `python benchmarks/matching.py [--out FILE.json] [--repeats N] [--quick]`,
the same as `fractal-match bench matching` (`--help` lists the options)."""

from fractal_match.cli import bench_script

if __name__ == "__main__":
    bench_script("matching")
