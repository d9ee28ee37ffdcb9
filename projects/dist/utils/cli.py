"""Shared command-line plumbing of the tools in ``tools/``.

:func:`run_tool` runs a tool's ``main`` so that a user's mistake ends in one
line on stderr, ``<tool>: error: <message>``, and exit code 2 (as argparse
does for a bad flag), while a genuine bug keeps its traceback. With
``--debug`` anywhere on the command line, or ``DIST_DEBUG=1`` in the
environment, user errors show their full traceback too.

A user error (:func:`is_user_error`) is

* a :class:`~projects.dist.utils.errors.DiSTUserError` or an exception class
  defined by the plugin (``CheckpointMismatchError``, ``AnnotationListError``,
  ``BrokenVideoError``, ...);
* a missing, misplaced or unreadable path (``FileNotFoundError``,
  ``IsADirectoryError``, ``NotADirectoryError``, ``PermissionError``);
* a ``ValueError``, ``KeyError`` or ``TypeError`` raised by the plugin's own
  checks (an explicit ``raise`` statement in ``projects/dist``; a failed
  look-up or call there is a bug) or by MMEngine while
  reading a config or building from it (an unknown ``type``, a bad keyword
  argument);
* a config file with a syntax error, or whose code raised while MMEngine
  read it (e.g. a ``NameError``; the message names the file and line).

:class:`DictAction` is MMEngine's ``--cfg-options`` action that rejects an
item without ``=`` with a usage error instead of a bare ``ValueError``, and
keeps the spaces inside a value (MMEngine's deletes every space, so
``prompt_template='a video of {}.'`` would arrive as ``'avideoof{}.'``).
"""
import argparse
import linecache
import os
import os.path as osp
import sys
import sysconfig
from typing import Any, Callable, List, Optional, Sequence, Tuple

from mmengine.config import DictAction as _MMEngineDictAction

from .errors import DiSTUserError

#: Environment variable that turns on full tracebacks for user errors.
DEBUG_ENV = 'DIST_DEBUG'
#: Command-line flag, accepted by every tool run through :func:`run_tool`,
#: with the same effect.
DEBUG_FLAG = '--debug'

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
_LIBRARY_DIRS = tuple({
    sysconfig.get_paths()[k]
    for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')
})
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError,
                PermissionError)
_CHECK_ERRORS = (ValueError, KeyError, TypeError)
# MMEngine folders whose ValueError/KeyError/TypeError describe a config:
# reading it (config/) or building an object from it (registry/).
_MMENGINE_CONFIG_DIRS = tuple(
    osp.join('mmengine', d) + osp.sep for d in ('config', 'registry'))


class DictAction(_MMEngineDictAction):
    """MMEngine's ``DictAction`` (``--cfg-options key=value ...``) that
    rejects a malformed item with an argparse usage error (exit code 2)
    naming it, instead of ``ValueError: not enough values to unpack``, and
    keeps spaces inside values.

    Values parse as in MMEngine (``1`` -> int, ``true`` -> bool, ``None``,
    ``a,b`` / ``[a,b]`` -> list, ``(a,b)`` -> tuple, nested brackets), except
    that only the spaces around a value or list element are dropped: a
    string such as ``'a video of {}.'`` or a path with spaces arrives intact.
    """

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Optional[Sequence[str]],
                 option_string: Optional[str] = None) -> None:
        """Check every item is ``KEY=VALUE`` with a non-empty key, then
        parse as MMEngine does."""
        for item in values or ():
            key, sep, _ = item.partition('=')
            if not sep or not key.strip():
                parser.error(
                    f'{option_string or self.dest}: expected KEY=VALUE '
                    f'pairs (e.g. train_cfg.max_epochs=2), got {item!r}')
        super().__call__(parser, namespace, values, option_string)

    @classmethod
    def _parse_iterable(cls, val: str) -> Any:
        """Parse one ``--cfg-options`` value.

        Args:
            val (str): The text after ``KEY=``.

        Returns:
            list | tuple | int | float | bool | str | None: The value.
        """
        val = val.strip().strip('\'"').strip()
        is_tuple = val.startswith('(') and val.endswith(')')
        if is_tuple or (val.startswith('[') and val.endswith(']')):
            val = val[1:-1]
        elif ',' not in val:
            return cls._parse_int_float_bool(val)
        items = []
        while val.strip():
            end = _next_top_level_comma(val)
            items.append(cls._parse_iterable(val[:end]))
            val = val[end + 1:]
        return tuple(items) if is_tuple else items


def _next_top_level_comma(text: str) -> int:
    """Index of the first comma of ``text`` outside brackets (``len(text)``
    if none).

    Raises:
        ValueError: ``text`` has unbalanced brackets.
    """
    if (text.count('(') != text.count(')')
            or text.count('[') != text.count(']')):
        raise ValueError(f'--cfg-options: unbalanced brackets in {text!r}')
    depth = 0
    for i, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            return i
    return len(text)


def _raise_site(exc: BaseException) -> Tuple[str, str]:
    """The file and the source line where ``exc`` was raised.

    Args:
        exc (BaseException): A raised exception.

    Returns:
        tuple[str, str]: Absolute file path and stripped line ('' if
        unknown).
    """
    tb = exc.__traceback__
    if tb is None:
        return '', ''
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = osp.abspath(tb.tb_frame.f_code.co_filename)
    return path, linecache.getline(path, tb.tb_lineno).strip()


def _is_library(path: str) -> bool:
    """Whether ``path`` is a file of Python or an installed package."""
    return path.startswith(_LIBRARY_DIRS) or any(
        part in ('site-packages', 'dist-packages')
        for part in path.split(osp.sep))


def config_site(exc: BaseException) -> Optional[Tuple[str, int]]:
    """Where in a config file ``exc`` was raised, if a config file's own
    code raised it while MMEngine read the config (e.g. a ``NameError``).

    Args:
        exc (BaseException): A raised exception (with its traceback).

    Returns:
        tuple[str, int | None] | None: The config file and line (None
        if unknown), or None.
    """
    site, reading = None, False
    tb = exc.__traceback__
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if _MMENGINE_CONFIG_DIRS[0] in path:
            # the config file MMEngine is reading, in case its own code
            # never runs (a syntax error)
            filename = tb.tb_frame.f_locals.get('filename')
            reading = True
            site = (filename, getattr(exc, 'lineno', None)) if isinstance(
                filename, str) and osp.isfile(filename) else None
        elif reading and osp.isfile(path) and not _is_library(path):
            site = (path, tb.tb_lineno)
        tb = tb.tb_next
    return site


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports a mistake in the user's input (see the
    module docstring), as opposed to a bug.

    Args:
        exc (BaseException): A raised exception (with its traceback).

    Returns:
        bool: True for a user error.
    """
    if isinstance(exc, (DiSTUserError, *_PATH_ERRORS, SyntaxError)):
        return True
    if type(exc).__module__.startswith('projects.dist'):
        return True
    if config_site(exc) is not None:
        return True
    if isinstance(exc, _CHECK_ERRORS):
        where, line = _raise_site(exc)
        if where.startswith(_PACKAGE_DIR + osp.sep):
            # a deliberate check, not e.g. a failed dict look-up
            return line.startswith('raise ')
        return any(d in where for d in _MMENGINE_CONFIG_DIRS)
    return False


def error_message(exc: BaseException) -> str:
    """The text of ``exc`` as a user reads it.

    ``str(KeyError('text'))`` quotes its text; a one-string ``KeyError``
    shows the string as is.

    Args:
        exc (BaseException): The exception.

    Returns:
        str: Its message (the class name if it has none).
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(
            exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc)
    return text or type(exc).__name__


def tool_name(main: Callable) -> str:
    """How messages name the tool of ``main``: its file name, as argparse
    names it in usage errors (``train.py``)."""
    path = getattr(main, '__globals__', {}).get('__file__') or sys.argv[0]
    return osp.basename(path)


def debug_requested(argv: Optional[List[str]] = None) -> bool:
    """Whether full tracebacks were asked for (flag or environment).

    Args:
        argv (list[str], optional): Command line; defaults to ``sys.argv``.

    Returns:
        bool: True with ``--debug`` in ``argv`` or ``DIST_DEBUG`` set to
        anything but '', '0', 'false' or 'no'.
    """
    argv = sys.argv if argv is None else argv
    env = os.environ.get(DEBUG_ENV, '').strip().lower()
    return DEBUG_FLAG in argv or env not in ('', '0', 'false', 'no')


def run_tool(main: Callable[[], Optional[int]]) -> None:
    """Run a tool's ``main`` and exit with its status.

    ``--debug`` is removed from ``sys.argv`` before ``main`` parses it (and
    sets ``DIST_DEBUG=1``, which child processes inherit). A user error
    (:func:`is_user_error`) prints ``<tool>: error: <message>`` and exits
    with 2; so does a ``SystemExit`` carrying a message. Any other exception
    propagates with its traceback.

    Use it as the whole of a tool's main guard::

        if __name__ == '__main__':
            run_tool(main)

    Args:
        main (callable): The tool's entry point, called without arguments;
            an int it returns is the exit status (anything else means 0).
    """
    if DEBUG_FLAG in sys.argv[1:]:
        sys.argv = [a for a in sys.argv if a != DEBUG_FLAG]
        os.environ[DEBUG_ENV] = '1'
    debug = debug_requested()
    name = tool_name(main)
    try:
        status = main()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            raise
        text = str(exc.code)
        if ': error: ' not in text.split('\n', 1)[0]:
            text = f'{name}: error: {text}'
        print(text, file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # noqa: B902 -- sorted out just below
        if debug or not is_user_error(exc):
            raise
        site = config_site(exc)
        where = '' if site is None else f' (config {site[0]}' + (
            ')' if site[1] is None else f', line {site[1]})')
        print(
            f'{name}: error: {error_message(exc)}{where}\n'
            f'({type(exc).__name__}; run with {DEBUG_FLAG} or '
            f'{DEBUG_ENV}=1 for the traceback)',
            file=sys.stderr)
        sys.exit(2)
    # a main may return its results (e.g. a list) for callers in Python
    sys.exit(status if isinstance(status, int) else 0)
