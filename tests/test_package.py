"""Tests of the installable package ``projects.dist``: import paths,
registration into MMAction2's registries and the compat fixes."""
import inspect
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import zipfile

import torch
from mmaction.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from torch import nn

import projects.dist
from projects.dist import compat

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# (base class, registry) pairs: an exported class of this kind must be
# registered under its own name.
KINDS = ((nn.Module, MODELS), (BaseDataset, DATASETS),
         (BaseTransform, TRANSFORMS), (Hook, HOOKS), (BaseMetric, METRICS))


def _python(code: str, cwd: str, pythonpath: str = None) -> str:
    """Run ``python -c code`` in a fresh interpreter; return its stdout."""
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    if pythonpath is not None:
        env['PYTHONPATH'] = pythonpath
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def _exported_classes() -> list:
    """Classes listed in ``__all__`` of the plugin's sub-packages."""
    classes = []
    for sub in ('models', 'datasets', 'engine'):
        module = getattr(projects.dist, sub)
        for name in getattr(module, '__all__', []):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                classes.append(obj)
    return classes


def test_version():
    assert re.fullmatch(r'\d+\.\d+\.\d+(rc\d+)?', projects.dist.__version__)


def test_projects_is_a_namespace_package():
    # No projects/__init__.py: `projects` must merge with other projects/
    # folders (an MMAction2 checkout has one).
    assert not osp.exists(osp.join(REPO_ROOT, 'projects', '__init__.py'))
    assert projects.dist.__file__ == osp.join(REPO_ROOT, 'projects', 'dist',
                                              '__init__.py')


def test_core_modules_registered():
    for name in ('DiST', 'DiSTCLIPVisual', 'DiSTCLIPText', 'DiSTTextHead'):
        assert name in MODELS, f'{name} is not in mmaction MODELS'
        assert MODELS.get(name).__module__.startswith('projects.dist.')


def test_every_exported_class_is_registered():
    classes = _exported_classes()
    assert classes, 'projects.dist exports no classes'
    for cls in classes:
        registries = [reg for base, reg in KINDS if issubclass(cls, base)]
        for registry in registries:
            assert registry.get(cls.__name__) is cls, (
                f'{cls.__module__}.{cls.__name__} is exported but not '
                f'registered in mmaction {registry.name}')


def test_registered_names_do_not_shadow_mmaction():
    # Registering never used force=True, so a plugin class under a name
    # that MMAction2 already uses would have raised at import. Check the
    # names are the plugin's own and distinctive.
    for cls in _exported_classes():
        assert cls.__module__.startswith('projects.dist.')
        assert 'DiST' in cls.__name__, cls.__name__


def test_cpu_set_device_fix():
    if torch.cuda.is_available():
        assert not getattr(torch.cuda.set_device, '_dist_cpu_noop', False)
    else:
        assert torch.cuda.set_device._dist_cpu_noop
        torch.cuda.set_device(0)  # raises without the fix on CPU hosts
    assert compat.patch_cpu_set_device() is False  # idempotent


def test_mmaction_models_import_with_drn_fix(tmp_path):
    # Fresh interpreter: projects.dist must come first and make
    # `import mmaction.models` work even on an unfixed mmaction2 1.2.0 wheel.
    out = _python(
        'import projects.dist, mmaction.models\n'
        'from mmaction.registry import MODELS\n'
        'print(MODELS.get("Recognizer3D").__name__)\n',
        cwd=str(tmp_path),
        pythonpath=REPO_ROOT)
    assert out.strip() == 'Recognizer3D'
    # Too late once mmaction.models is imported: nothing is changed then.
    import mmaction.models  # noqa: F401
    assert compat.patch_mmaction_drn() is False


def test_import_from_another_directory(tmp_path):
    out = _python(
        'import projects.dist; print(projects.dist.__file__)',
        cwd=str(tmp_path),
        pythonpath=REPO_ROOT)
    assert out.strip() == osp.join(REPO_ROOT, 'projects', 'dist',
                                   '__init__.py')


def test_import_next_to_a_foreign_projects_folder(tmp_path):
    # Like running from an MMAction2 checkout: its own projects/ (without
    # __init__.py) is first on sys.path, and both must stay importable.
    foreign = tmp_path / 'projects' / 'foreign_plugin'
    foreign.mkdir(parents=True)
    (foreign / '__init__.py').write_text('NAME = "foreign"\n')
    out = _python(
        'import projects, projects.dist, projects.foreign_plugin as f\n'
        'print(f.NAME, projects.dist.__file__, *projects.__path__)',
        cwd=str(tmp_path),
        pythonpath=REPO_ROOT)
    name, path, *namespace_path = out.split()
    assert name == 'foreign'
    assert path == osp.join(REPO_ROOT, 'projects', 'dist', '__init__.py')
    assert str(tmp_path / 'projects') in namespace_path


def test_wheel_contents_and_wheel_install(tmp_path):
    # Build the wheel from a copy (keeps build/ and *.egg-info out of the
    # checkout), then import it from a folder with a foreign projects/.
    src = tmp_path / 'src'
    shutil.copytree(
        osp.join(REPO_ROOT, 'projects'),
        src / 'projects',
        ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('setup.py', 'README.md'):
        shutil.copy(osp.join(REPO_ROOT, name), src / name)
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(tmp_path / 'wheels'),
        str(src)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (wheel, ) = (tmp_path / 'wheels').glob('dist_mmaction-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    sources = {
        osp.relpath(osp.join(d, f), REPO_ROOT).replace(os.sep, '/')
        for package in ('dist', 'dist_tools')
        for d, _, files in os.walk(osp.join(REPO_ROOT, 'projects', package))
        for f in files if f.endswith(('.py', '.txt'))
    }
    assert 'projects/__init__.py' not in names
    missing = sources - names
    assert not missing, f'not packaged in the wheel: {sorted(missing)}'

    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / 'site')
    (tmp_path / 'run' / 'projects' / 'other').mkdir(parents=True)
    out = _python(
        'import projects.dist; print(projects.dist.__file__)',
        cwd=str(tmp_path / 'run'),
        pythonpath=str(tmp_path / 'site'))
    assert out.strip() == str(tmp_path / 'site' / 'projects' / 'dist' /
                              '__init__.py')


# any attribute of a stub class (e.g. ``from_pretrained``) is a no-op
STUB_CLASS = ('class _Meta(type):\n'
              '    def __getattr__(cls, name):\n'
              '        return lambda *args, **kwargs: None\n'
              'class _Stub(metaclass=_Meta):\n'
              '    pass\n')


def _fake_transformers(root, drop: tuple) -> str:
    """Write a ``transformers`` 5.0.0 stand-in under ``root``: every name
    VindLU imports exists (as a stub class) except the ``drop`` ones."""
    for module, names in compat._VINDLU_TRANSFORMERS_NAMES.items():
        parts = module.split('.')
        folder = root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):  # parent packages
            init = root.joinpath(*parts[:i], '__init__.py')
            if not init.exists():
                init.write_text('')
        (folder / '__init__.py').write_text(STUB_CLASS + ''.join(
            f'{n} = type({n!r}, (_Stub, ), {{}})\n'
            for n in names if n not in drop))
    info = root / 'transformers-5.0.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\n'
                                   'Name: transformers\nVersion: 5.0.0\n')
    return str(root)


def test_mmaction_models_import_next_to_incompatible_transformers(tmp_path):
    # mmaction2 1.2.0 imports VindLU whenever transformers>=4.28 is
    # installed; with one lacking what VindLU needs (transformers 5 dropped
    # modeling_utils.apply_chunking_to_forward), importing mmaction.models
    # fails unless projects.dist disables VindLU first.
    fake = _fake_transformers(
        tmp_path,
        drop=('apply_chunking_to_forward', 'find_pruneable_heads_and_indices',
              'prune_linear_layer'))
    code = ('import warnings\n'
            'with warnings.catch_warnings(record=True) as caught:\n'
            '    warnings.simplefilter("always")\n'
            '    {first}\n'
            '    import mmaction.models\n'
            'from mmaction.registry import MODELS\n'
            'from mmaction.utils import dependency\n'
            'print(dependency.WITH_MULTIMODAL,\n'
            '      MODELS.get("VindLUVQA").__name__,\n'
            '      MODELS.get("Recognizer3D").__name__)\n'
            'print(*[str(w.message) for w in caught\n'
            '        if "transformers" in str(w.message)], sep="\\n")\n')
    pythonpath = os.pathsep.join([fake, REPO_ROOT])
    out = _python(
        code.format(first='import projects.dist'),
        cwd=str(tmp_path),
        pythonpath=pythonpath)
    status, message = out.strip().split('\n', 1)
    assert status == 'False ask_install Recognizer3D'
    assert 'transformers 5.0.0 lacks' in message
    assert ('(transformers.modeling_utils: apply_chunking_to_forward, '
            'find_pruneable_heads_and_indices, prune_linear_layer)') in message
    # the defect being worked around: without projects.dist the import fails
    # (the drn stand-in is made here so that only this defect remains)
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run([
        sys.executable, '-c', 'import sys, types\n'
        'for n in ("mmaction.models.localizers.drn",\n'
        '          "mmaction.models.localizers.drn.drn"):\n'
        '    sys.modules[n] = types.ModuleType(n)\n'
        'sys.modules[n].DRN = None\n'
        'import mmaction.models\n'
    ],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'apply_chunking_to_forward' in proc.stderr


def test_multimodal_fix_leaves_other_setups_alone():
    # Here transformers is absent (MMAction2 already registers placeholders)
    # or complete; once mmaction.models is imported nothing is changed.
    import mmaction.models  # noqa: F401
    from mmaction.utils import dependency
    before = dependency.WITH_MULTIMODAL
    assert compat.patch_mmaction_multimodal() is False
    assert dependency.WITH_MULTIMODAL is before
