"""Install the DiST plugin for MMAction2 as the package ``projects.dist``
(with its tools' package ``projects.dist_tools``).

``projects/`` is a PEP 420 namespace package (it has no ``__init__.py``), so
``import projects.dist`` also works next to an MMAction2 checkout that has a
``projects/`` folder of its own: the two namespaces merge.

The pinned, tested environment is in ``requirements/``; use
``bash tools/install.sh`` for a complete setup (see README.md).
"""
import os.path as osp

from setuptools import find_namespace_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    """Read ``__version__`` from ``projects/dist/version.py``."""
    scope: dict = {}
    with open(osp.join(HERE, 'projects', 'dist', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def read_readme() -> str:
    """Return README.md, used as the long description."""
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


setup(
    name='dist-mmaction',
    version=get_version(),
    description='DiST (ICCV 2023): disentangled spatial and temporal '
    'learning for image-to-video transfer, as an MMAction2 plugin',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    # projects.dist is the plugin; projects.dist_tools holds the tool-only
    # code (compute counting, benchmark) that the plugin never imports
    packages=find_namespace_packages(include=[
        'projects.dist', 'projects.dist.*', 'projects.dist_tools',
        'projects.dist_tools.*'
    ]),
    package_data={
        'projects.dist': ['label_maps/*.txt', 'label_maps/templates/*.txt']
    },
    include_package_data=True,
    # Loose ranges here; the tested pins live in requirements/*.txt. mmcv
    # (full or mmcv-lite<2.2) is left to the installer so that a GPU
    # user's full mmcv is never shadowed by mmcv-lite.
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0.0',
        'mmaction2==1.2.0',
        # DiSTCLIPVisual reads open_clip's block layout (checked at
        # construction): the tested range
        'open_clip_torch>=3.3,<3.4',
        # DiSTTimmVisual: forward_intermediates with prefix tokens
        'timm>=1.0.31,<2',
        'decord>=0.6.0',
        'av>=14',
        'importlib-metadata',
        'setuptools<82',
        'matplotlib',
    ],
    extras_require={'tests': ['pytest']},
    zip_safe=False,
)
