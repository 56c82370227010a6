"""What a newcomer meets first: wrong addresses, long waits, scripts' --help."""

import os
import pty
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fractal_match.datasets import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "fractal_match"]


@pytest.fixture()
def garbage_server():
    """A TCP server on loopback that answers every connection with random bytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()
    noise = os.urandom(1 << 16)

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except (socket.timeout, OSError):
                continue
            try:
                connection.sendall(noise)
            except OSError:
                pass
            finally:
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_scheduler_that_speaks_garbage_is_one_line_and_leaves_no_folder(garbage_server, tmp_path):
    out = tmp_path / "run"
    command = CLI + ["run", "quick", "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{garbage_server}",
                     "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot join the Dask scheduler tcp://127.0.0.1:"), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    # so the same command, repeated, fails the same way instead of "already holds a run"
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 1 and "already holds" not in again.stderr and not out.exists()


def _on_a_terminal(command, cwd) -> tuple[int, str, str]:
    """Run `command` with stderr on a pseudo-terminal and stdout on a pipe: (code, stdout, stderr)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
                               cwd=cwd, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    stdout = process.stdout.read().decode()
    process.wait(timeout=120)
    os.close(leader)
    return process.returncode, stdout, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_goes_to_stderr_on_a_terminal_only(terminal, tmp_path):
    out = tmp_path / "match"
    command = CLI + ["match", str(DATA_DIR / "images" / "astronaut.png"), "learned:mean-face", "--size", "48",
                     "--family", "orbit-trap", "--family", "scrambled", "--out", str(out)]
    if terminal:
        code, stdout, stderr = _on_a_terminal(command, tmp_path)
    else:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        code, stdout, stderr = result.returncode, result.stdout, result.stderr
    assert code == 0, stderr
    assert "TM_CCOEFF_NORMED" in stdout and "ETA" not in stdout  # results on stdout, never bars
    if terminal:
        assert "matching" in stderr and "ETA" in stderr and "3/3" in stderr
    else:
        assert stderr == ""


def test_verbose_logs_each_step_when_not_on_a_terminal(tmp_path):
    command = CLI + ["-v", "match", str(DATA_DIR / "images" / "camera.png"), "learned:mean-face", "--size", "32",
                     "--family", "orbit-trap", "--out", str(tmp_path / "m")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "matching (2) ..." in result.stderr and "matching: done in" in result.stderr
    assert "ETA" not in result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_benchmark_scripts_take_help_and_refuse_bad_arguments(script, tmp_path):
    path = ROOT / "benchmarks" / script
    helped = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert helped.returncode == 0 and "usage" in helped.stdout.lower(), helped.stderr
    assert list(tmp_path.iterdir()) == []  # --help ran nothing and wrote nothing
    bad = subprocess.run([sys.executable, str(path), "--repeats", "zero"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "--repeats" in bad.stderr
    assert list(tmp_path.iterdir()) == []
