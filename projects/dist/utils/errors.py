"""The base class of the plugin's user-error exceptions."""


class DiSTUserError(Exception):
    """A mistake in the user's input (file, config, argument), not a bug.

    The public entry points (``tools/*.py``) print such an error as one
    ``<tool>: error: <message>`` line and exit with code 2, without a
    traceback (see :mod:`projects.dist.utils.cli`). Subclass it (together
    with the built-in class it specialises, e.g.
    ``class MyError(DiSTUserError, ValueError)``) for errors whose message
    already says what is wrong, where, and how to fix it.
    """
