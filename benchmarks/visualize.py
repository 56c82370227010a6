"""The feature-visualization benchmark: `python benchmarks/visualize.py [--out FILE.json]
[--repeats N] [--quick]`, the same as `fractal-match bench visualize` (`--help` lists the options)."""

from fractal_match.cli import bench_script

if __name__ == "__main__":
    bench_script("visualize")
