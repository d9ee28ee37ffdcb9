"""Reading and checking class-name lists for the text classifier."""
import os.path as osp
import re
import string
from typing import List, Optional, Sequence, Union

import torch

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


# ``<id> <name>`` / ``<id>,<name>`` / ``<name>,<id>`` / ``<name>\t<id>``;
# a name ending in a space and a number (``action 3``) is a name
_ID_FIRST = re.compile(r'^(\d+)\s*[,;:\t]\s*\S|^(\d+)\s+\S')
_ID_LAST = re.compile(r'\S\s*[,;:\t]\s*(\d+)$')


def read_text_file(path: str, what: str) -> str:
    """Read a UTF-8 text file, with a clear error for other encodings.

    A UTF-8 byte-order mark is dropped. UTF-16/32 files (with or without a
    byte-order mark) and bytes that are not UTF-8 raise an error naming the
    file, the line and the encoding expected.

    Args:
        path (str): The file.
        what (str): What the file is, for the error message.

    Returns:
        str: The decoded text.
    """
    with open(path, 'rb') as f:
        data = f.read()
    fix = ('expected UTF-8 text; re-save it as UTF-8 (e.g. `iconv -f '
           '<encoding> -t UTF-8 in.txt > out.txt`)')
    for bom, enc in ((b'\xff\xfe\x00\x00', 'UTF-32-LE'), (b'\x00\x00\xfe\xff',
                                                          'UTF-32-BE'),
                     (b'\xff\xfe', 'UTF-16-LE'), (b'\xfe\xff', 'UTF-16-BE')):
        if data.startswith(bom):
            raise ValueError(f'{what} {path!r} is {enc} encoded (it starts '
                             f'with a {enc} byte-order mark); {fix}')
    if b'\x00' in data:
        line = data[:data.index(b'\x00')].count(b'\n') + 1
        raise ValueError(f'{what} {path!r} holds NUL bytes (line {line}): '
                         f'UTF-16/32 text without a byte-order mark?; {fix}')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b'\n') + 1
        err = ValueError(f'{what} {path!r} is not UTF-8: byte '
                         f'{data[e.start:e.start + 1]!r} on line {line}; '
                         f'{fix}')
    raise err


def _check_id_columns(names: List[str], source: str) -> None:
    """Refuse ``<id> <name>`` (or ``<name> <id>``) lines.

    A list in which EVERY line starts with an integer followed by
    whitespace, ``,``, ``;``, ``:`` or a tab, or every line ends with an
    integer after a tab, ``,``, ``;`` or ``:``, is a label map with an id
    column, not a list of names. It is refused rather than parsed: the
    file's order, not its ids, gives the label ids. Lists where only some
    names start with a number (``2 people dancing``), and names ending in a
    space and a number (``action 3``), are names.
    """
    for pattern, column in ((_ID_FIRST, 'first'), (_ID_LAST, 'last')):
        matches = [pattern.search(n) for n in names]
        if not all(matches):
            continue
        ids = [
            int(next(g for g in m.groups() if g is not None)) for m in matches
        ]
        in_order = ids in (list(range(len(ids))), list(range(1, len(ids) + 1)))
        order = ('the ids follow the line order, so dropping them keeps the '
                 'labels' if in_order else
                 'the ids do NOT follow the line order: sort the lines by id '
                 'first')
        raise ValueError(
            f'every line of {source} has a numeric {column} column (e.g. '
            f'{names[0]!r}): this looks like a "<id> <name>" label map; '
            f'expected one class name per line, line i = label id i, '
            f'without ids ({order})')


def check_prompt_template(prompt_template: Optional[str]) -> None:
    """Check that a prompt template has exactly one ``{}`` placeholder.

    Args:
        prompt_template (str, optional): E.g. ``'a video of {}.'``.
    """
    if prompt_template is None:
        return
    expected = ("expected a format string with exactly one '{}' placeholder "
                "for the class name, e.g. 'a video of {}.'")
    if not isinstance(prompt_template, str):
        raise TypeError(f'prompt_template must be a str, got '
                        f'{type(prompt_template).__name__}; {expected}')
    try:
        fields = [
            f for _, f, _, _ in string.Formatter().parse(prompt_template)
            if f is not None
        ]
    except ValueError as e:
        msg = f'prompt_template {prompt_template!r} is malformed ({e}); '
        err = ValueError(msg + expected)
    else:
        if fields in ([''], ['0']):
            return
        err = ValueError(
            f'prompt_template {prompt_template!r} has '
            f'{len(fields)} placeholder(s) {fields}: every class would get '
            f'the same text or the formatting fails; {expected}')
    raise err


def load_prompt_templates(
        templates: Optional[Union[str, Sequence[str]]]) -> Optional[List[str]]:
    """Load and check prompt templates for a template ensemble.

    Args:
        templates (str | Sequence[str], optional): A template file (UTF-8,
            one template per line, blank lines ignored; a relative path is
            also looked up under the installed package, see
            :func:`resolve_path`) or the templates. Each must hold exactly
            one ``{}`` (see :func:`check_prompt_template`). None means no
            template (the raw names).

    Returns:
        list[str] | None: The templates, in order, or None.
    """
    if templates is None:
        return None
    if isinstance(templates, str):
        if '{' in templates and not osp.isfile(templates):
            raise ValueError(
                f'prompt_templates={templates!r} is a single string with '
                "'{': give a list of templates (e.g. ['a video of {}.']) "
                'or a template file, one template per line; for one '
                'template use prompt_template')
        path = resolve_path(templates)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'prompt template file not found: {templates!r}; expected a '
                "text file with one template per line, each with one '{}'")
        lines = read_text_file(path, 'prompt template file').splitlines()
        items = [line.strip() for line in lines if line.strip()]
        source = f'prompt template file {path!r}'
    elif isinstance(templates, Sequence):
        items = list(templates)
        source = 'the given templates'
    else:
        raise TypeError('prompt_templates must be a template file or a list '
                        f'of templates, got {type(templates).__name__}')
    if not items:
        raise ValueError(f'no prompt templates in {source}; expected at '
                         "least one template with one '{}'")
    for template in items:
        check_prompt_template(template)
    dups = sorted({t for i, t in enumerate(items) if t in items[:i]})
    if dups:
        raise ValueError(f'duplicate prompt template(s) {dups} in {source}: '
                         'each would count twice in the ensemble mean')
    return items


def tokenize_prompts(names: Sequence[str],
                     context_length: int,
                     templates: Optional[Sequence[str]] = None,
                     source: str = 'the given list') -> torch.Tensor:
    """Tokenize every class name under every prompt template.

    Each template goes through the checks of :func:`tokenize_class_names`
    (no truncation, no two names with the same tokens).

    Args:
        names (Sequence[str]): Class names (or free texts), K of them.
        context_length (int): Token length L of the text tower.
        templates (Sequence[str], optional): P templates with one ``{}``
            each; None tokenizes the raw names (P = 1).
        source (str): Where the names come from, for error messages.

    Returns:
        torch.Tensor: (P * K, L) int64 token ids, template-major: rows
        ``p * K .. p * K + K - 1`` are the names under template ``p``.
    """
    return torch.cat([
        tokenize_class_names(names, context_length, template, source)
        for template in (templates or [None])
    ])


def tokenize_class_names(names: Sequence[str],
                         context_length: int,
                         prompt_template: Optional[str] = None,
                         source: str = 'the given list') -> torch.Tensor:
    """Tokenize class names for the CLIP text tower, refusing any name the
    tower would truncate or that would give another name's classifier.

    Args:
        names (Sequence[str]): Class names, in label order.
        context_length (int): Token length L of the text tower (start and
            end tokens included).
        prompt_template (str, optional): Format string with one ``{}``.
        source (str): Where the names come from, for error messages.

    Returns:
        torch.Tensor: (K, L) int64 token ids, as ``open_clip.tokenize``.
    """
    import open_clip

    check_prompt_template(prompt_template)
    texts = [
        prompt_template.format(n) if prompt_template else n for n in names
    ]
    # the tokenizer open_clip.tokenize itself uses; +2 for start/end tokens
    encoded = [tuple(open_clip.tokenizer._tokenizer.encode(t)) for t in texts]
    lengths = [len(ids) + 2 for ids in encoded]
    long = [i for i, n in enumerate(lengths) if n > context_length]
    if long:
        shown = ', '.join(f'id {i} {names[i]!r} ({lengths[i]} tokens)'
                          for i in long[:5])
        prompt = (f' with prompt_template {prompt_template!r}'
                  if prompt_template else '')
        raise ValueError(
            f'{len(long)} class name(s) of {source} are longer than the '
            f'text tower\'s context length of {context_length} tokens '
            f'(start and end tokens included){prompt}: {shown}; the tower '
            'would truncate them, so names that differ only after the cut '
            'would share a classifier. Shorten them.')
    first = {}
    for i, ids in enumerate(encoded):
        j = first.setdefault(ids, i)
        if j != i:
            raise ValueError(
                f'class names id {j} {names[j]!r} and id {i} {names[i]!r} '
                f'of {source} give identical text tokens (the CLIP '
                'tokenizer lower-cases and normalises spaces and '
                'punctuation), i.e. the same classifier; class names must '
                'differ after tokenisation')
    # on the device torch builds on (meta for counting: no values needed)
    return open_clip.tokenize(texts, context_length=context_length)


def load_class_names(class_names: Union[str, Sequence[str]]) -> List[str]:
    """Load class names from a label file or a list and validate them.

    A label file has one class name per line, in label-id order, in UTF-8
    (a UTF-8 byte-order mark is allowed; UTF-16 and other encodings are
    refused with the file named). A file or list in which every line has a
    numeric id column (``<id> <name>``, ``<id>,<name>``, ``<name>\\t<id>``,
    ``<name>,<id>``) is refused, not parsed: the line order is the label
    order. Surrounding
    whitespace and double quotes are stripped (as the official DiST code
    does); a trailing empty line is ignored.

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
        lines = read_text_file(path, 'class-name file').splitlines()
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
    _check_id_columns(names, source)
    seen, dups = set(), []
    for n in names:
        if n in seen:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ValueError(f'duplicate class name(s) {sorted(set(dups))} in '
                         f'{source}; class names must be unique')
    return names
