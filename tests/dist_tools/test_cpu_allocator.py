"""glibc malloc tuning: freed buffers are kept and reused, not paged in
again on every iteration."""
import platform
import subprocess
import sys
import textwrap

from projects.dist_tools.cpu_allocator import tune_glibc_malloc

# 12 x 4 MiB allocated and freed per round. With glibc's adaptive defaults
# the freed heap top (48 MiB) exceeds the trim threshold, is returned to the
# kernel and faulted in again each round (8160 faults per round measured
# with glibc 2.36); tuned, the memory stays in the process.
SCRIPT = textwrap.dedent('''
    import resource, sys
    import torch
    from projects.dist_tools.cpu_allocator import tune_glibc_malloc
    if sys.argv[1] == 'tuned':
        assert tune_glibc_malloc()
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(4 << 20).fill_(1.0)  # 16 MiB: glibc adapts its
    del x                                # thresholds after this free
    per_round = []
    for _ in range(6):
        before = faults()
        bufs = [torch.empty(1 << 20).fill_(1.0) for _ in range(12)]
        per_round.append(faults() - before)
        del bufs
    print(sum(per_round[2:]))
''')


def test_tuned_process_does_not_page_in_freed_buffers_again():
    if platform.libc_ver()[0] != 'glibc':
        # other C libraries have no mallopt: the helper must say so
        assert tune_glibc_malloc() is False
        return
    assert tune_glibc_malloc() is True
    out = subprocess.run([sys.executable, '-c', SCRIPT, 'tuned'],
                         capture_output=True,
                         text=True,
                         check=True)
    pages_per_round = 12 * (4 << 20) // 4096  # 12288
    assert int(out.stdout.split()[-1]) < pages_per_round // 10
