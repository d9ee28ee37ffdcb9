"""Tests of the entry point tools/analysis/get_flops.py (the counting is
tested in tests/dist_tools/test_flops.py)."""
import json

from mmengine.config import Config

from projects.dist_tools import get_flops
from tests.helpers import load_tool, tiny_model_cfg

tool = load_tool('analysis/get_flops.py')


def test_main_prints_the_package_count(tmp_path, capsys):
    cfg_file = tmp_path / 'tiny.py'
    cfg_file.write_text("custom_imports = dict(imports=['projects.dist'], "
                        'allow_failed_imports=False)\n'
                        f'model = {tiny_model_cfg()!r}\n')
    returned = tool.main([str(cfg_file), '--json'])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = get_flops.analyse(Config.fromfile(str(cfg_file)))
    assert printed == dict(config=str(cfg_file), **expected)
    assert returned == expected
