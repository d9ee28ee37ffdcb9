"""Tests of projects/dist_tools/benchmark/memory.py: sampled RSS and the
activations a training step saves for backward."""
import mmap
import time

from projects.dist_tools.benchmark import memory, run


def test_saved_activations_shrink_with_checkpointing(write_config,
                                                     expected_keys):
    """--saved-activations reports what one training step keeps for
    backward; activation checkpointing keeps less, test modes report null."""
    cfg = write_config()
    results = run.main([
        cfg, '--device', 'cpu', '--threads', '1', '--iters', '1', '--warmup',
        '1', '--batch-size', '2', '--modes', 'train,train@cp,test',
        '--variant', 'cp', 'model.backbone.with_cp=True', '--saved-activations'
    ])
    by_key = {r['key']: r for r in results}
    for r in results:
        assert set(r) == expected_keys | {'saved_activations_mb'}
        assert len(r['iter_times']) == 1  # the extra step is not timed
    plain = by_key['train:none']['saved_activations_mb']
    checkpointed = by_key['train:none@cp']['saved_activations_mb']
    assert 0 < checkpointed < plain
    assert by_key['test:none']['saved_activations_mb'] is None


class ScriptedSampler(memory.RssSampler):
    """An RssSampler whose resident set size is set by the test: process
    RSS is not a fixed function of what a test allocates (the kernel may
    reclaim idle pages of this process at any time, e.g. DAMON-based
    reclaim, which this VM runs as kdamond), so attribution is tested on
    values the test controls."""
    rss = 0

    def current(self):
        return self.rss


def test_rss_sampler_attributes_peaks_to_labels():
    with ScriptedSampler(interval=0.001) as sampler:
        sampler.rss = 100
        sampler.mark('small')
        sampler.rss = 90  # falls: the peak stays
        sampler.mark('large')
        sampler.rss = 164
        sampler.mark('large')  # a sample at the top, however fast
        sampler.rss = 120
        sampler.mark(None)
        sampler.rss = 500  # paused: not filed under any label
        time.sleep(0.02)
    assert sampler.peaks == {'small': 100, 'large': 164}


def test_rss_reads_this_process():
    if not memory.RssSampler.available():
        assert memory.process_peak_rss_mb() > 0
        return
    sampler = memory.RssSampler()
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    # within 64 MiB of the statm reading just taken, whole pages
    assert abs(sampler.current() - pages * sampler._page) < 64 << 20
    assert sampler.current() % sampler._page == 0
    block = mmap.mmap(-1, 64 << 20)
    block.write(b'\x01' * (64 << 20))  # 64 MiB touched
    assert memory.process_peak_rss_mb() > 64  # MiB, monotonic
    block.close()


def test_rss_sample_taken_after_mark_is_filed_under_the_new_label():
    """A sample the background thread started before ``mark`` and finished
    after it (while the new mode allocated) must not raise the old label's
    peak: ``mark`` waits for the sample in flight."""
    import threading

    class SlowSampler(memory.RssSampler):
        rss = 1

        def current(self):
            if threading.current_thread() is self._thread:
                time.sleep(0.05)  # a sample in flight across mark()
            return self.rss

    with SlowSampler(interval=0.001) as sampler:
        sampler.mark('small')
        time.sleep(0.01)  # the background thread is inside current()
        sampler.mark('large')
        sampler.rss = 1000  # the new mode allocates
        deadline = time.monotonic() + 30  # a background sample of 'large'
        while sampler.peaks['large'] < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        sampler.mark(None)
    assert sampler.peaks == {'small': 1, 'large': 1000}
