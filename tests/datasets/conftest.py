"""Fixtures shared by the dataset tests."""
import pytest

from tests.video_utils import make_videos


@pytest.fixture
def videos(tmp_path):
    """Six clips: 0 truncated, 2 missing, 4 garbage; 1, 3, 5 fine."""
    ann, bad = make_videos(
        str(tmp_path), 6, {
            0: 'truncated',
            2: 'missing',
            4: 'garbage'
        })
    return ann, str(tmp_path), bad
