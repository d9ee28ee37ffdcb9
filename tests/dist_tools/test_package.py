"""The tools' package ``projects.dist_tools`` stays out of the plugin: the
plugin never imports it, so training and inference do not load it."""
import ast
import os
import subprocess
import sys

from tests.helpers import REPO_ROOT, tiny_model_cfg

CODE = f'''
import sys
import projects.dist
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
init_default_scope('mmaction')
model = MODELS.build({tiny_model_cfg()!r})
model.init_weights()
print(sorted(m for m in sys.modules if m.startswith('projects.')))
'''


def test_plugin_never_imports_the_tools_package():
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', CODE],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    modules = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert 'projects.dist.models' in modules  # the probe saw the plugin
    assert not [m for m in modules if m.startswith('projects.dist_tools')]
