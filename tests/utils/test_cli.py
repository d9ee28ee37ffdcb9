"""Tests of projects/dist/utils/cli.py: user errors end in one line and exit
code 2, bugs keep their traceback, ``--debug``/``DIST_DEBUG=1`` show it."""
import argparse
import sys

import pytest
from mmaction.registry import MODELS

from projects.dist.datasets.robust_video_dataset import (AnnotationListError,
                                                         read_annotation_list)
from projects.dist.models.utils.clip_arch import resolve_clip_arch
from projects.dist.utils.cli import (DictAction, config_site, error_message,
                                     is_user_error, run_tool)
from projects.dist.utils.errors import DiSTUserError


def raised(trigger) -> BaseException:
    """The exception ``trigger()`` raises (with its traceback)."""
    with pytest.raises(BaseException) as info:
        trigger()
    return info.value


def failed_lookup():
    return {}['missing']  # a bug here, not a check


# ------------------------------------------------------- classification
def test_user_errors(tmp_path):
    # the plugin's own error classes
    assert is_user_error(
        raised(lambda: read_annotation_list(str(tmp_path / 'x.txt'))))
    (tmp_path / 'empty.txt').write_text('\n')
    err = raised(lambda: read_annotation_list(str(tmp_path / 'empty.txt')))
    assert isinstance(err, AnnotationListError) and is_user_error(err)
    # an explicit check of the plugin raising a built-in class
    assert is_user_error(raised(lambda: resolve_clip_arch('ViT-X/99')))
    # a config naming an unregistered type
    assert is_user_error(raised(lambda: MODELS.build(dict(type='NoSuch'))))
    assert is_user_error(raised(lambda: open(tmp_path / 'none.txt')))
    assert is_user_error(DiSTUserError('x'))


def test_error_in_a_config_file_names_file_and_line(tmp_path):
    from mmengine.config import Config
    path = tmp_path / 'bad_cfg.py'
    path.write_text('a = 1\nb = undefined_name\n')
    err = raised(lambda: Config.fromfile(str(path)))
    assert isinstance(err, NameError) and is_user_error(err)
    assert config_site(err) == (str(path), 2)
    path.write_text('a = (\n')
    err = raised(lambda: Config.fromfile(str(path)))
    assert is_user_error(err) and config_site(err)[0].endswith('bad_cfg.py')
    # the same NameError outside a config is a bug
    assert config_site(raised(lambda: undefined_name)) is None  # noqa: F821


def test_bugs_are_not_user_errors():
    assert not is_user_error(raised(failed_lookup))
    assert not is_user_error(raised(lambda: 1 / 0))
    assert not is_user_error(raised(lambda: int('x')))  # not the plugin's


def test_error_message_unquotes_key_errors():
    assert error_message(KeyError('no such arch')) == 'no such arch'
    assert error_message(KeyError(3)) == '3'
    assert error_message(RuntimeError()) == 'RuntimeError'


# ------------------------------------------------------------- run_tool
@pytest.fixture
def argv(monkeypatch):
    """Set ``sys.argv`` and clear ``DIST_DEBUG`` for one test."""
    monkeypatch.delenv('DIST_DEBUG', raising=False)

    def set_argv(*args):
        monkeypatch.setattr(sys, 'argv', ['tool.py', *args])

    return set_argv


def fail_with_annotation_error():
    raise AnnotationListError('list.txt, line 3: expected "<path> <label>"')


def test_user_error_is_one_line_and_exit_2(argv, capsys):
    argv()
    with pytest.raises(SystemExit) as info:
        run_tool(fail_with_annotation_error)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('test_cli.py: error: list.txt, line 3')
    assert 'Traceback' not in err and '--debug' in err


@pytest.mark.parametrize('how', ['flag', 'env'])
def test_debug_shows_the_traceback(argv, monkeypatch, how):
    seen = []

    def main():
        seen.append(list(sys.argv))
        fail_with_annotation_error()

    if how == 'flag':
        argv('a', '--debug', 'b')
    else:
        argv('a', 'b')
        monkeypatch.setenv('DIST_DEBUG', '1')
    with pytest.raises(AnnotationListError):
        run_tool(main)
    assert seen == [['tool.py', 'a', 'b']]  # the tool never sees --debug


def test_bug_keeps_its_traceback(argv):
    argv()
    with pytest.raises(KeyError):
        run_tool(failed_lookup)


def test_exit_status_and_messages(argv, capsys):
    argv()
    with pytest.raises(SystemExit) as info:
        run_tool(lambda: 3)
    assert info.value.code == 3
    for result in (None, [dict(key='train')]):  # results are not statuses
        with pytest.raises(SystemExit) as info:
            run_tool(lambda: result)
        assert info.value.code == 0

    def exits_with_text():
        raise SystemExit('--dump must name a .pkl file')

    with pytest.raises(SystemExit) as info:
        run_tool(exits_with_text)
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        'test_cli.py: error: --dump must name a .pkl file\n')


# ------------------------------------------------------------ DictAction
@pytest.mark.parametrize('item', ['notakeyvalue', '=3', ' =3'])
def test_cfg_options_item_without_key_is_a_usage_error(item, capsys):
    parser = argparse.ArgumentParser(prog='train.py')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(['--cfg-options', 'a.b=1', item])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert '--cfg-options: expected KEY=VALUE pairs' in err
    assert repr(item) in err


def test_cfg_options_parse_as_in_mmengine():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'a.b=1', 'c=[1,2]', 'd=x=y'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2], 'd': 'x=y'}


@pytest.mark.parametrize('item, value', [
    ("t='a video of {}.'", 'a video of {}.'),
    ('t=a photo of {}', 'a photo of {}'),
    ('t=/data/my videos/a.mp4', '/data/my videos/a.mp4'),
    ('t=[a b, c]', ['a b', 'c']),
    ('t=( 1, [2, 3 ] )', (1, [2, 3])),
    ('t= 3 ', 3),
    ('t=1,2,', [1, 2]),
    ('t=[]', []),
    ('t=None', None),
])
def test_cfg_options_keep_spaces_inside_values(item, value):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    assert parser.parse_args(['--cfg-options', item]).cfg_options == {
        't': value
    }
