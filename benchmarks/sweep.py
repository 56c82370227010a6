"""The sweep benchmark: `python benchmarks/sweep.py [--out FILE.json] [--repeats N] [--quick]`,
the same as `fractal-match bench sweep` (`--help` lists the options)."""

from fractal_match.cli import bench_script

if __name__ == "__main__":
    bench_script("sweep")
