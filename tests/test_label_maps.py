"""Class-name files: format, counts, and label order against their sources.

The text classifier matches class ``i`` with line ``i``; a list in the wrong
order silently destroys accuracy, so each order is checked against an
independent statement of the ids it claims.
"""
import os
import os.path as osp
import re

import pytest
from torchvision.models._meta import _KINETICS400_CATEGORIES

from projects.dist.datasets.transforms import SSV2_FLIP_PAIRS
from projects.dist.models.utils.class_names import (load_class_names,
                                                    tokenize_class_names)

LABEL_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'projects', 'dist',
    'label_maps')

COUNTS = {
    'kinetics400': 400,
    'kinetics700': 700,
    'kinetics710': 710,
    'kinetics710_uniformerv2': 710,
    'sthv2': 174,
    'ucf101': 101,
    'hmdb51': 51,
}


def read(name: str) -> list:
    """Lines of ``projects/dist/label_maps/<name>.txt``."""
    with open(osp.join(LABEL_DIR, f'{name}.txt'), encoding='utf-8') as f:
        text = f.read()
    assert text.endswith('\n') and not text.endswith('\n\n'), name
    return text[:-1].split('\n')


def mmaction_kinetics_key(name: str) -> str:
    """Sort key of MMAction2's ``parse_kinetics_splits`` (tools/data)."""
    return name.replace('"', '').replace(' ', '_')


@pytest.mark.parametrize('name,count', sorted(COUNTS.items()))
def test_format_count_unique(name, count):
    names = read(name)
    assert len(names) == count
    assert len(set(names)) == count, 'duplicate class names'
    for i, n in enumerate(names):
        assert n and n == n.strip(), f'line {i}: {n!r}'
        assert '"' not in n and '\t' not in n, f'line {i}: {n!r}'
    # the text head reads the files unchanged
    assert load_class_names(osp.join(LABEL_DIR, f'{name}.txt')) == names


SHIPPED = sorted(f[:-4] for f in os.listdir(LABEL_DIR) if f.endswith('.txt'))


@pytest.mark.parametrize('name', SHIPPED)
def test_every_shipped_file_passes_the_text_head_checks(name):
    # no id column is detected, every name fits CLIP's 77 tokens (with the
    # longest prompt template the docs suggest) and no two names tokenize
    # alike
    assert set(COUNTS) < set(SHIPPED)
    names = load_class_names(osp.join(LABEL_DIR, f'{name}.txt'))
    for template in (None, 'a video of a person {}.'):
        tokens = tokenize_class_names(names, 77, template, source=name)
        assert tokens.shape == (len(names), 77)


# ids of the official DiST dataset/labels/k400_labels.json (a sample)
DIST_K400_IDS = {
    'abseiling': 0,
    'balloon blowing': 12,
    'changing wheel': 53,
    'cooking sausages': 73,
    'drinking': 100,
    'garbage collecting': 136,
    'hurling (sport)': 161,
    "massaging person's head": 196,
    'passing American football (in game)': 208,
    'passing American football (not in game)': 209,
    'petting animal (not cat)': 212,
    'skiing (not slalom or crosscountry)': 308,
    'sniffing': 320,
    'tying knot (not on a tie)': 369,
    'tying tie': 370,
    'using remote controller (not gaming)': 374,
    'zumba': 399,
}


def test_kinetics400_matches_official_list():
    # torchvision ships the official Kinetics-400 class list; MMAction2's
    # annotation lists number the classes in sorted order of the names with
    # spaces replaced by underscores (tools/data/parse_file_list.py)
    k400 = read('kinetics400')
    assert sorted(k400) == sorted(_KINETICS400_CATEGORIES)
    assert k400 == sorted(k400, key=mmaction_kinetics_key)
    for name, label in DIST_K400_IDS.items():
        assert k400[label] == name


def test_kinetics700_order():
    k700 = read('kinetics700')
    assert k700 == sorted(k700, key=mmaction_kinetics_key)
    for name in ('acting in play', 'inflating balloons', 'sipping cup'):
        assert name in k700


# Kinetics-400 classes that Kinetics-600/700 renamed; K710 uses the new names
K400_RENAMED = {
    'balloon blowing': 'inflating balloons',
    'changing wheel': 'changing wheel (not on bike)',
    'cooking sausages': 'cooking sausages (not on barbeque)',
    'drinking': 'sipping cup',
    'dying hair': 'dyeing hair',
    'garbage collecting': 'person collecting garbage',
    'hugging': 'hugging (not baby)',
    'making bed': 'making the bed',
    'opening bottle': 'opening bottle (not wine)',
    'picking fruit': 'picking apples',
    'skiing (not slalom or crosscountry)': 'skiing mono',
    'sniffing': 'smelling feet',
    'tying tie': 'tying necktie',
}


def test_kinetics710_mmaction_order():
    # tools/data/kinetics710/label_map_k710.txt: K710 ids 0-399 are the K400
    # ids (K600/K700 names where renamed), then the new K600/K700 classes
    k710 = read('kinetics710')
    k400 = read('kinetics400')
    for i, name in enumerate(k400):
        assert k710[i] == K400_RENAMED.get(name, name), i
    k700 = set(read('kinetics700'))
    # K700 names every class of K710 except 11 K400 classes it dropped
    assert len(set(k710) - k700) == 11
    assert set(k700) - set(k710) == {
        'throwing ball (not baseball or American football)'
    }


# UniFormerV2's k710_channel_map/map_k400.json: K710 id of K400 ids 0..19
UNIFORMERV2_K400_IDS = (341, 158, 189, 16, 398, 302, 202, 318, 80, 323, 249,
                        315, 18, 88, 365, 52, 257, 103, 113, 162)


def test_kinetics710_uniformerv2_order():
    uv2 = read('kinetics710_uniformerv2')
    k710 = read('kinetics710')
    assert sorted(uv2) == sorted(k710)
    assert uv2[400:] == k710[400:]
    for k400_id, k710_id in enumerate(UNIFORMERV2_K400_IDS):
        assert uv2[k710_id] == k710[k400_id], k400_id
    assert uv2[:3] == ['riding a bike', 'marching', 'dodgeball']


def test_sthv2_order_and_flip_pairs():
    names = read('sthv2')
    # the official something-something-v2-labels.json numbers the templates
    # alphabetically; MMAction2's list drops the brackets
    assert names == sorted(names)
    assert not any('[' in n for n in names)
    # the official DiST flip swaps 86/87, 93/94, 166/167
    assert names[86] == 'Pulling something from left to right'
    assert names[87] == 'Pulling something from right to left'
    assert names[93] == 'Pushing something from left to right'
    assert names[94] == 'Pushing something from right to left'
    assert names[166] == 'Turning the camera left while filming something'
    assert names[167] == 'Turning the camera right while filming something'
    # and those are exactly the classes with a left/right direction (class
    # 50, "... pulling it right out ...", uses "right" as an adverb)
    sided = [
        i for i, n in enumerate(names)
        if re.search(r'\b(left|right)\b(?! out)', n)
    ]
    assert sided == sorted(i for pair in SSV2_FLIP_PAIRS for i in pair)
    mirror = {'left': 'right', 'right': 'left'}
    for a, b in SSV2_FLIP_PAIRS:
        mirrored = re.sub(r'\b(left|right)\b', lambda m: mirror[m.group(1)],
                          names[a])
        assert mirrored == names[b]


# (1-based classInd id, classInd name), as listed for THUMOS'14 / UCF101
UCF101_CLASSIND = {
    1: 'ApplyEyeMakeup',
    7: 'BaseballPitch',
    9: 'BasketballDunk',
    12: 'Billiards',
    21: 'CleanAndJerk',
    35: 'Hammering',
    36: 'HammerThrow',
    37: 'HandstandPushups',
    47: 'JumpingJack',
    48: 'JumpRope',
    97: 'VolleyballSpiking',
    101: 'YoYo',
}


def ucf101_token(name: str) -> str:
    """classInd name of a readable UCF101 name ('yo yo' -> 'YoYo')."""
    return ''.join(w.capitalize() for w in name.split(' '))


def test_ucf101_classind_order():
    names = read('ucf101')
    tokens = [ucf101_token(n) for n in names]
    # classInd.txt lists the classes case-insensitively sorted
    assert tokens == sorted(tokens, key=str.lower)
    for class_id, token in UCF101_CLASSIND.items():
        assert tokens[class_id - 1] == token


def test_hmdb51_folder_order():
    names = read('hmdb51')
    folders = [n.replace(' ', '_') for n in names]
    # MMAction2 numbers HMDB51 classes by the sorted class folder names
    assert folders == sorted(folders)
    assert folders[0] == 'brush_hair' and folders[-1] == 'wave'
    assert folders[6] == 'climb_stairs' and folders[21] == 'kick_ball'
