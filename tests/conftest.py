"""Shared pytest set-up and fixtures for the DiST plugin tests.

Importing ``projects.dist`` applies the compat fixes (``projects/dist/
compat.py``) and registers the plugin's modules before any test runs.
Shared helpers (tiny model configs, tool loading, pipeline steps) live in
``tests/helpers.py``; fixtures built on them live here.
"""
import projects.dist  # noqa: F401

# projects.dist patches mmaction before its models load:
# isort: split

import pytest  # noqa: E402
from mmaction.utils import register_all_modules  # noqa: E402

from tests.helpers import build_tiny_model  # noqa: E402

# the default scope 'mmaction' (what every config sets), so registry builds in
# tests resolve mmaction's own modules as they do under the Runner
register_all_modules(init_default_scope=True)


@pytest.fixture
def tiny_model():
    """The tiny recognizer of ``configs/_base_/models/dist_tiny.py``, built
    with seed 0 and initialised (see :func:`tests.helpers.build_tiny_model`).
    """
    return build_tiny_model()
