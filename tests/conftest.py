"""Shared pytest set-up for the DiST plugin tests.

Importing ``projects.dist`` applies the compat fixes (``projects/dist/
compat.py``) and registers the plugin's modules before any test runs. Other
test modules may append shared fixtures below.
"""
import projects.dist  # noqa: F401

# projects.dist patches mmaction before its models load:
# isort: split

from mmaction.utils import register_all_modules  # noqa: E402

# the default scope 'mmaction' (what every config sets), so registry builds in
# tests resolve mmaction's own modules as they do under the Runner
register_all_modules(init_default_scope=True)
