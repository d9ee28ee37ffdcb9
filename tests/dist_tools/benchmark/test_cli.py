"""Tests of projects/dist_tools/benchmark/cli.py: flags, --modes, --variant
and the command line of an --isolate child."""
import pytest

from projects.dist_tools.benchmark import cli


def test_parse_modes():
    specs = cli.parse_modes('train:bf16, test ,clip-only@ref', 'test', 'none',
                            ['ref'])
    assert [s.key for s in specs
            ] == ['train:bf16', 'test:none', 'clip-only:none@ref']
    assert [s.key for s in cli.parse_modes(None, 'train', 'bf16', [])
            ] == ['train:bf16']
    # duplicates collapse
    assert len(cli.parse_modes('test,test:none', 'test', 'none', [])) == 1


@pytest.mark.parametrize('text, match', [
    ('infer', "unknown mode 'infer'"),
    ('test:fp8', "unknown amp 'fp8'"),
    ('test@nope', "variant 'nope'"),
    (',', 'names no mode'),
])
def test_parse_modes_errors(text, match):
    with pytest.raises(ValueError, match=match):
        cli.parse_modes(text, 'test', 'none', ['ref'])


def test_parse_variants():
    variants = cli.parse_variants(
        [['ref', 'model.backbone.alpha=4', 'model.backbone.with_cp=True']])
    assert variants == {
        'ref': {
            'model.backbone.alpha': 4,
            'model.backbone.with_cp': True
        }
    }
    with pytest.raises(ValueError, match='at least one'):
        cli.parse_variants([['ref']])
    with pytest.raises(ValueError, match='repeated'):
        cli.parse_variants([['a', 'x=1'], ['a', 'y=2']])
    assert cli.parse_variants([['p', 'fast_path=False']]) == {
        'p': {
            'fast_path': frozenset()
        }
    }
    assert cli.parse_variants([['p', 'fast_path=tower']]) == {
        'p': {
            'fast_path': frozenset({'tower'})
        }
    }
    with pytest.raises(ValueError, match=r"--variant p: fast_path: unknown"):
        cli.parse_variants([['p', 'fast_path=[tower,tblock]']])


def test_bad_arguments_exit():
    with pytest.raises(SystemExit):
        cli.parse_args(['cfg.py', '--iters', '0'])
    with pytest.raises(SystemExit):
        cli.parse_args(['cfg.py', '--amp', 'fp8'])
    with pytest.raises(SystemExit):
        cli.parse_args(['cfg.py', '--profile-ops', '-1'])


PARENT_ONLY = ('isolate', 'modes', 'mode', 'baseline')


@pytest.mark.parametrize('argv', [
    [
        'cfg.py', '--isolate', '--modes', 'test,train', '--baseline',
        'test:none', '--iters', '2', '--mode=train', '--variant', 'v', 'a=1'
    ],
    ['cfg.py', '--isolate'],
    [
        'cfg.py', '--isolate', '--amp', 'bf16', '--variant', 'p',
        'fast_path=[tower]', 'model.x=(1,2)', '--variant', 'q', 'b=c',
        '--batch-size', '3', '--num-clips', '2', '--shape', '3', '8', '32',
        '32', '--warmup', '0', '--order', 'sequential', '--device', 'cpu',
        '--threads', '2', '--compile', '--compile-backend', 'eager',
        '--real-data', '--cpu-malloc', 'default', '--cudnn-benchmark', 'on',
        '--profile-ops', '5', '--saved-activations', '--seed', '7',
        '--cfg-options', 'a.b=1', 'c=[1,(2,x)]', 'd=None', 'e=False',
        'f=1e-05', 'g=name', 'h=[]', 'i=2.0', 'j='
    ],
])
def test_child_argv_drops_parent_only_options(argv):
    """The child's command line, written from the parsed arguments, reads
    back to the parent's arguments except the parent-only options."""
    parent = cli.parse_args(argv)
    child_argv = cli.child_argv(parent, 'train:bf16@p')
    for flag in ('--isolate', '--baseline', '--mode'):
        assert flag not in child_argv
    assert child_argv.count('--modes') == 1
    child = vars(cli.parse_args(child_argv))
    expected = vars(parent)
    assert child.pop('modes') == 'train:bf16@p'
    assert child.pop('isolate') is False and child.pop('baseline') is None
    assert child.pop('mode') == 'test'  # unused once --modes is given
    for key in PARENT_ONLY:
        expected.pop(key)
    assert child == expected


def test_format_option_value_round_trips_and_refuses_others():
    assert cli.format_option_value([1, (2.5, 'a'), None, True]) == \
        "[1,(2.5,a),None,True]"
    with pytest.raises(TypeError, match="type dict"):
        cli.format_option_value({'a': 1})
