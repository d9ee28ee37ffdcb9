"""Keep glibc's malloc from handing large CPU buffers back to the kernel.

With its default, adaptive settings glibc may return freed memory to the
kernel (``munmap`` or trimming the top of the heap) and take it back on the
next allocation, so large activations are paged in afresh every iteration:
minor page faults, each page zeroed by the kernel. Whether this happens
depends on the allocation history (the thresholds adapt), so CPU timings of
the same model can differ between processes. Fixing the thresholds keeps
freed buffers in the process for reuse;
``tests/dist_tools/test_cpu_allocator.py`` shows the pattern (32 of a 48 MiB
working set paged in again every round by default, not at all once tuned).
"""
import ctypes
import ctypes.util

# mallopt parameters (glibc <malloc.h>)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def tune_glibc_malloc(mmap_threshold: int = 32 << 20,
                      trim_threshold: int = 1 << 30,
                      top_pad: int = 64 << 20) -> bool:
    """Fix glibc's malloc thresholds for this process (``mallopt``).

    Equivalent to starting the process with ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_`` set. The process then
    keeps up to ``trim_threshold`` bytes of freed heap instead of returning
    it, so its resident memory stays near its peak.

    Args:
        mmap_threshold (int): Allocations at least this large get their own
            ``mmap``; smaller ones come from the heap. Defaults to 32 MiB,
            the most glibc's adaptive threshold itself reaches on 64-bit
            systems.
        trim_threshold (int): Free heap kept at the top before trimming.
            Defaults to 1 GiB.
        top_pad (int): Extra heap requested per growth. Defaults to 64 MiB.

    Returns:
        bool: True if every setting was accepted; False where the C library
        has no ``mallopt`` (not glibc) or refused a value.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, mmap_threshold),
                (_M_TRIM_THRESHOLD, trim_threshold), (_M_TOP_PAD, top_pad))
    return all(mallopt(param, value) == 1 for param, value in settings)
