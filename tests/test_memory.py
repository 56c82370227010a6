"""The allocator settings of the tool's processes: freed memory is kept, so a new array of a few
MB does not page-fault again (measured by the process's own minor-fault counter)."""

import resource
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys
import numpy as np
from fractal_match._memory import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def round_of_work():  # six 3 MB maps held together and dropped, as six cv2 calls leave them
    maps = [np.ones(3 * 2**20 // 8) for _ in range(6)]
    del maps
round_of_work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_of_work()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_is_reused_without_page_faults():
    def faults(mode):
        return int(subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True).stdout)

    kept = faults("kept")
    # 60 arrays of 3 MB: with the settings they come from memory already touched
    assert kept < 200, kept
    assert faults("default") > 10 * max(kept, 1)  # and without them they fault again, page by page
