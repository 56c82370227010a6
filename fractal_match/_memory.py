"""The C allocator's settings for this tool's own processes (the command line and its workers).

glibc serves blocks above 128 KiB (a threshold it raises as it goes) with fresh pages from the
system and gives freed ones back; the next such block then pays a page fault per 4 KiB on first
touch. The matcher makes many multi-megabyte arrays, and on these machines those faults took
longer than the arithmetic: after another allocation pattern (OpenCV's six maps, say) a gray
`match_all` took 19.5 ms with 2,096 faults, and 12.7 ms with none once blocks up to 32 MiB came
from the heap and freed memory was kept. A process then holds on to its peak heap until it
ends, which a command or a worker does soon; nothing changes for code that imports the package.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MiB from the heap and keep up to 512 MiB of freed memory (glibc's
    mallopt); True if the allocator took the settings, False where it is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)) and bool(mallopt(_M_TRIM_THRESHOLD, 512 * 2**20))
