"""Files that are not checkpoints get one clear error naming the path and
what was expected, on every path that reads a checkpoint file."""
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from projects.dist.utils.checkpoint_loading import (
    CheckpointFileError, allow_full_unpickling_if_needed,
    check_checkpoint_file, load_checkpoint_file)
from tests.helpers import REPO_ROOT, load_tool


def bad_files(tmp_path) -> dict:
    """name -> (path, pattern the message must contain)."""
    ok = tmp_path / 'ok.pth'
    torch.save({'state_dict': {'w': torch.zeros(3)}}, ok)
    files = {
        'text': (b'epoch 3, accuracy 0.9\n', 'looks like a text file'),
        'empty': (b'', r'is empty \(0 bytes\)'),
        'truncated':
        (ok.read_bytes()[:300], 'truncated or damaged zip archive'),
        'plain pickle':
        (pickle.dumps({'w': [1,
                             2]}), 'Python pickle but not a torch.save file'),
        'other binary':
        (b'\x89PNG\r\n\x1a\n' + bytes(40), 'bytes .* of another format'),
    }
    out = {}
    for name, (content, pattern) in files.items():
        path = tmp_path / (name.replace(' ', '_') + '.pth')
        path.write_bytes(content)
        out[name] = (str(path), pattern)
    return out


CASES = ['text', 'empty', 'truncated', 'plain pickle', 'other binary']


@pytest.mark.parametrize('case', CASES)
def test_mmengine_load_checkpoint_names_path_and_expectation(tmp_path, case):
    path, pattern = bad_files(tmp_path)[case]
    with pytest.raises(CheckpointFileError, match=pattern) as info:
        load_checkpoint(torch.nn.Linear(2, 2), path, map_location='cpu')
    assert path in str(info.value)
    assert 'expected a PyTorch checkpoint written by torch.save' in str(
        info.value)
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize('case', CASES)
def test_tools_refuse_before_building_anything(tmp_path, case):
    # tools/test.py and tools/demo.py call this first
    path, pattern = bad_files(tmp_path)[case]
    with pytest.raises(CheckpointFileError, match=pattern):
        allow_full_unpickling_if_needed(path)


def test_tools_test_main_reports_a_text_checkpoint(tmp_path):
    tool = load_tool('test.py')
    path, _ = bad_files(tmp_path)['text']
    config = osp.join(REPO_ROOT, 'configs', 'dist_tiny_synthetic.py')
    with pytest.raises((CheckpointFileError, SystemExit),
                       match='looks like a text file'):
        tool.main([config, path, '--work-dir', str(tmp_path / 'w')])


def test_real_checkpoints_still_load(tmp_path):
    for kwargs in (dict(), dict(_use_new_zipfile_serialization=False)):
        path = str(tmp_path / 'c.pth')
        torch.save(
            {
                'state_dict': {
                    'weight': torch.ones(2, 2),
                    'bias': torch.ones(2)
                }
            }, path, **kwargs)
        check_checkpoint_file(path)
        model = torch.nn.Linear(2, 2)
        load_checkpoint(model, path, map_location='cpu', strict=True)
        assert torch.equal(model.weight, torch.ones(2, 2))


def test_non_dict_and_missing_files(tmp_path):
    path = str(tmp_path / 'tensor.pth')
    torch.save(torch.zeros(2), path)
    with pytest.raises(CheckpointFileError, match='holds a Tensor, expected'):
        load_checkpoint(torch.nn.Linear(2, 2), path)
    assert torch.equal(load_checkpoint_file(path), torch.zeros(2))
    with pytest.raises(FileNotFoundError, match='checkpoint not found: .*x'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'x.pth'))


def test_runner_load_from_names_the_file(tmp_path):
    # tools/train.py and tools/test.py hand load_from to MMEngine's Runner
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, *args, **kwargs):
            return {}

    path, pattern = bad_files(tmp_path)['empty']
    runner = Runner(
        model=Tiny(),
        work_dir=str(tmp_path / 'work'),
        load_from=path,
        default_scope='mmaction')  # a Runner makes its scope the current
    with pytest.raises(CheckpointFileError, match=pattern):
        runner.load_or_resume()


def test_loader_reads_training_checkpoints_unless_told_not_to(
        tmp_path, monkeypatch):
    """MMEngine's load_checkpoint (hence mmaction.apis.init_recognizer and
    the Inferencers) reads a training checkpoint without the tools' env
    variable; a user's TORCH_FORCE_WEIGHTS_ONLY_LOAD still wins."""
    import numpy as np
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)
    path = str(tmp_path / 'epoch_1.pth')
    linear = torch.nn.Linear(2, 2)
    torch.save(
        {
            'state_dict': linear.state_dict(),
            'meta': {
                'seed': np.int64(0)
            }
        }, path)
    other = torch.nn.Linear(2, 2)
    load_checkpoint(other, path, map_location='cpu')
    torch.testing.assert_close(other.weight, linear.weight, rtol=0, atol=0)
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        load_checkpoint(other, path, map_location='cpu')
