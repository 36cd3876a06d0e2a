"""glibc's mmap threshold pinned for ingest: large blocks freed early must not pull later ones
onto the main heap (where they fragment it and peak RSS grows with video length)."""

import json
import os
import subprocess
import sys

_CHILD = r"""
import ctypes, json, sys
from vidmem.process_memory import bound_heap_growth
pinned = bound_heap_growth() if sys.argv[1] == "pin" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
big = libc.malloc(12 << 20)
libc.free(big)  # glibc's default raises its mmap threshold to 12 MB here
later = libc.malloc(6 << 20)
heap = [l.split()[0] for l in open("/proc/self/maps") if l.rstrip().endswith("[heap]")]
on_heap = any(int(a, 16) <= later < int(b, 16) for a, b in (r.split("-") for r in heap))
print(json.dumps({"pinned": pinned, "on_heap": on_heap, "again": bound_heap_growth()}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pinned_threshold_keeps_later_large_blocks_off_the_heap():
    default = _run("default")
    assert default["on_heap"], "control: glibc's dynamic threshold should put the 6 MB block on the heap"
    pinned = _run("pin")
    assert pinned["pinned"] is True and pinned["again"] is True
    assert not pinned["on_heap"]


def test_environment_setting_is_left_to_win():
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    out = subprocess.run(
        [sys.executable, "-c", "from vidmem.process_memory import bound_heap_growth; print(bound_heap_growth())"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    assert out.stdout.strip() == "False"
