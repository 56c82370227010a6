"""The fractal benchmark: `python benchmarks/fractal.py [--out FILE.json] [--repeats N] [--quick]`,
the same as `fractal-match bench fractal` (`--help` lists the options)."""

from fractal_match.cli import bench_script

if __name__ == "__main__":
    bench_script("fractal")
