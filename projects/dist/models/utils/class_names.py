"""Reading and checking class-name lists for the text classifier."""
import os.path as osp
from typing import List, Sequence, Union

# the folder that holds ``projects/`` (the repository root or site-packages)
_PACKAGE_ROOT = osp.abspath(osp.join(osp.dirname(__file__), *['..'] * 4))


def resolve_path(path: str) -> str:
    """Resolve a data path shipped with the plugin.

    A relative path that does not exist from the working directory but does
    under the installed package's root (e.g.
    ``projects/dist/label_maps/kinetics400.txt`` after a wheel install) is
    resolved there.

    Args:
        path (str): A file path.

    Returns:
        str: An existing path, or ``path`` unchanged if none exists.
    """
    if osp.exists(path) or osp.isabs(path):
        return path
    candidate = osp.join(_PACKAGE_ROOT, path)
    return candidate if osp.exists(candidate) else path


def load_class_names(class_names: Union[str, Sequence[str]]) -> List[str]:
    """Load class names from a label file or a list and validate them.

    A label file has one class name per line, in label-id order. Lines of
    the form ``<id> <name>`` or ``<name>,<id>`` are not parsed: the file must
    hold names only. Surrounding whitespace and double quotes are stripped
    (as the official DiST code does); a trailing empty line is ignored.

    Args:
        class_names (str | Sequence[str]): Path of a label file or the names.

    Returns:
        list[str]: The class names, in label order.
    """
    if isinstance(class_names, str):
        path = resolve_path(class_names)
        if not osp.isfile(path):
            raise FileNotFoundError(f'class-name file not found: '
                                    f'{class_names!r}')
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        source = path
    else:
        lines = list(class_names)
        source = 'the given list'
    names = [str(n).strip().replace('"', '') for n in lines]
    if not names:
        raise ValueError(f'no class names in {source}')
    empty = [i for i, n in enumerate(names) if not n]
    if empty:
        where = (f'line(s) {[i + 1 for i in empty]}' if isinstance(
            class_names, str) else f'index/indices {empty}')
        raise ValueError(f'empty class name(s) at {where} of {source}; '
                         'expected one non-empty name per line')
    seen, dups = set(), []
    for n in names:
        if n in seen:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ValueError(f'duplicate class name(s) {sorted(set(dups))} in '
                         f'{source}; class names must be unique')
    return names
