"""Normal use prints no Python warnings: every command runs with warnings turned into errors,
in the command's process and in its worker processes."""

import os
import subprocess
import sys

from test_datasets import make_pairs

from fractal_match import DATA_DIR

SWEEP = """
name = "warnings"
kernels = ["crop", "learned:mean-face"]
[targets]
annotations = ["coins/coin-3", "chelsea/left-eye"]
[transforms]
scales = [0.9, 1.1]
rotations = [0, 30]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
[[variants]]
family = "bank"
rotations = [0, 30]
[[variants]]
family = "oracle"
"""

PAIRS = """
name = "pairs"
kernels = ["crop"]
[targets]
pairs = "pairs"
[[variants]]
family = "none"
"""


def strict(*args, cwd=None):
    """Run the command line with every warning an error (workers inherit PYTHONWARNINGS)."""
    env = {**os.environ, "PYTHONWARNINGS": "error", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-W", "error", "-m", "fractal_match", *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return result


def test_match_run_and_report_print_no_warnings(tmp_path):
    strict("match", str(DATA_DIR / "images" / "coins.png"), "crop:coins/coin-3", "--family", "orbit-trap",
           "--family", "scrambled", "--out", str(tmp_path / "match"))
    (tmp_path / "sweep.toml").write_text(SWEEP)
    strict("run", str(tmp_path / "sweep.toml"), "--out", str(tmp_path / "sweep"), "--workers", "2")
    strict("report", str(tmp_path / "sweep"))
    make_pairs(tmp_path / "pairs")
    (tmp_path / "pairs.toml").write_text(PAIRS)
    strict("run", str(tmp_path / "pairs.toml"), "--out", str(tmp_path / "pairs-run"), "--executor", "serial")
    strict("report", str(tmp_path / "pairs-run"))
    assert (tmp_path / "pairs-run" / "report" / "index.html").exists()
