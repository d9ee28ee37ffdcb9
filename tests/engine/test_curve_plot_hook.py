"""DiSTCurvePlotHook: records validation history, writes a PNG."""
from types import SimpleNamespace

import numpy as np
import pytest
from mmaction.registry import HOOKS
from mmengine.logging import MessageHub
from mmengine.runner import BaseLoop

from projects.dist.engine.hooks.curve_plot_hook import (VAL_HISTORY_KEY,
                                                        DiSTCurvePlotHook,
                                                        draw_curves)

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class _Loop(BaseLoop):

    def run(self) -> None:
        pass


def _runner(tmp_path, name, iters_per_epoch=4, training=True):
    hub = MessageHub.get_instance(name)
    runner = SimpleNamespace(
        message_hub=hub,
        work_dir=str(tmp_path),
        epoch=0,
        train_dataloader=list(range(iters_per_epoch)),
        _train_loop=None)
    if training:
        runner._train_loop = _Loop(runner, [0])
    return runner


def _is_png(path) -> bool:
    with open(path, 'rb') as f:
        return f.read(8) == PNG_MAGIC


def test_hook_is_registered():
    hook = HOOKS.build(dict(type='DiSTCurvePlotHook', out_file='c.png'))
    assert isinstance(hook, DiSTCurvePlotHook)


def test_validation_history_is_kept_and_plotted(tmp_path):
    runner = _runner(tmp_path, 'curve_hook_a')
    for i, loss in enumerate([2.0, 1.5, 1.2, 1.0, 0.8, 0.6, 0.5, 0.4]):
        runner.message_hub.update_scalar('train/loss', loss)
        runner.message_hub.update_scalar('train/top1_acc', i / 8)
    hook = DiSTCurvePlotHook()
    for epoch, acc in ((1, 0.5), (2, 0.75)):
        runner.epoch = epoch
        hook.after_val_epoch(runner, {'acc/top1': acc, 'acc/top5': 1.0})
    assert runner.message_hub.get_info(VAL_HISTORY_KEY) == [(1.0, {
        'acc/top1': 0.5
    }), (2.0, {
        'acc/top1': 0.75
    })]
    # kept in the state a checkpoint saves, so --resume keeps the curve
    assert VAL_HISTORY_KEY in runner.message_hub.state_dict()['runtime_info']
    hook.after_train(runner)
    assert _is_png(tmp_path / 'curves.png')


def test_no_training_loop_means_no_record(tmp_path):
    runner = _runner(tmp_path, 'curve_hook_b', training=False)
    DiSTCurvePlotHook().after_val_epoch(runner, {'acc/top1': 0.5})
    assert runner.message_hub.get_info(VAL_HISTORY_KEY) is None
    assert not (tmp_path / 'curves.png').exists()


def test_nothing_logged_writes_nothing(tmp_path):
    runner = _runner(tmp_path, 'curve_hook_c')
    assert DiSTCurvePlotHook().plot(runner) is None
    assert not (tmp_path / 'curves.png').exists()


def test_draw_curves_with_partial_epoch(tmp_path):
    path = tmp_path / 'x.png'
    draw_curves(
        str(path), np.linspace(2, 0.1, 10), np.linspace(0, 1, 10),
        [(1.0, {
            'acc/top1': 0.4
        })], 4, ('acc/top1', ))
    assert _is_png(path)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="end with .png, got 'c.jpg'"):
        DiSTCurvePlotHook(out_file='c.jpg')
    with pytest.raises(
            ValueError, match='iters_per_epoch must be >= 1, '
            'got 0'):
        draw_curves(str(tmp_path / 'y.png'), np.ones(3), np.ones(3), [], 0, ())
