"""Tests of reading, checking and tokenizing class names."""
import open_clip
import pytest

from projects.dist.models.utils.class_names import (check_prompt_template,
                                                    load_class_names,
                                                    tokenize_class_names)

NAMES = ['moving left', 'moving right', 'growing']


def write(tmp_path, data: bytes) -> str:
    path = tmp_path / 'names.txt'
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize('encoding, match', [
    ('utf-16', r'is UTF-16-LE encoded .*byte-order mark'),
    ('utf-16-be', r'holds NUL bytes \(line 1\)'),
    ('utf-32', r'is UTF-32-LE encoded'),
    ('latin-1', r"is not UTF-8: byte b'\\xe9' on line 2"),
])
def test_non_utf8_file_named_with_encoding_expected(tmp_path, encoding, match):
    path = write(tmp_path, 'walking\ncaf\u00e9 chatting\n'.encode(encoding))
    with pytest.raises(ValueError, match=match) as info:
        load_class_names(path)
    msg = str(info.value)
    assert path in msg and 'expected UTF-8' in msg
    assert info.value.__context__ is None


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = write(tmp_path, '\n'.join(NAMES).encode('utf-8-sig'))
    assert load_class_names(path) == NAMES


@pytest.mark.parametrize('lines', [
    ['0 moving left', '1 moving right', '2 growing'],
    ['0,moving left', '1,moving right', '2,growing'],
    ['1: moving left', '2: moving right', '3: growing'],
    ['moving left\t0', 'moving right\t1', 'growing\t2'],
    ['moving left,0', 'moving right,1', 'growing,2'],
])
def test_id_columns_refused_with_the_fix(tmp_path, lines):
    path = write(tmp_path, '\n'.join(lines).encode())
    for source in (path, lines):
        with pytest.raises(ValueError, match='numeric .* column') as info:
            load_class_names(source)
        msg = str(info.value)
        assert repr(lines[0]) in msg
        assert 'one class name per line' in msg
        assert 'dropping them keeps the labels' in msg


def test_id_columns_out_of_order_say_so():
    with pytest.raises(ValueError, match='do NOT follow the line order'):
        load_class_names(['2 growing', '0 moving left', '1 moving right'])


def test_names_that_only_sometimes_start_with_a_number_are_names():
    names = ['2 people dancing', 'walking', 'moving 3 boxes', 'juggling 5']
    assert load_class_names(names) == names
    # generic names ending in a number are names, not "<name> <id>"
    names = [f'action {i}' for i in range(3)]
    assert load_class_names(names) == names


@pytest.mark.parametrize('template', ['a video of {}.', '{}', 'a {0} video'])
def test_templates_with_one_placeholder_accepted(template):
    check_prompt_template(template)


@pytest.mark.parametrize('template, match', [
    ('a video of a person', r'has 0 placeholder'),
    ('{} and {}', r'has 2 placeholder'),
    ('a video of {name}', r"placeholder\(s\) \['name'\]"),
    ('a video of {', r'is malformed'),
    ('{1}', r"placeholder\(s\) \['1'\]"),
])
def test_templates_without_exactly_one_placeholder_refused(template, match):
    with pytest.raises(ValueError, match=match) as info:
        check_prompt_template(template)
    assert "exactly one '{}' placeholder" in str(info.value)
    assert info.value.__context__ is None


def token_count(text: str) -> int:
    """Tokens of ``text`` including start and end (untruncated)."""
    row = open_clip.tokenize([text], context_length=200)[0]
    return int((row != 0).sum())


def test_name_the_tower_would_truncate_is_refused():
    fits = 'a b c d e'  # 5 words, 7 tokens with start/end
    assert token_count(fits) == 7
    tokens = tokenize_class_names([fits, 'f'], context_length=7)
    assert tokens.shape == (2, 7)
    # one token more: open_clip would cut it to the same tokens as 'a b c d e'
    longer = 'a b c d e f'
    cut = open_clip.tokenize([longer, fits], context_length=7)
    assert cut[0].tolist() == cut[1].tolist()
    with pytest.raises(ValueError) as info:
        tokenize_class_names([fits, longer], context_length=7)
    msg = str(info.value)
    assert "id 1 'a b c d e f' (8 tokens)" in msg
    assert 'context length of 7 tokens' in msg
    # the prompt counts
    with pytest.raises(ValueError, match=r"prompt_template 'x {}'"):
        tokenize_class_names([fits], 7, prompt_template='x {}')


def test_names_identical_after_tokenisation_are_refused():
    names = ['Moving Left', 'growing', 'moving   left']
    assert load_class_names(names) == names  # distinct as strings
    with pytest.raises(ValueError) as info:
        tokenize_class_names(names, context_length=16)
    msg = str(info.value)
    assert "id 0 'Moving Left'" in msg and "id 2 'moving   left'" in msg
    assert 'same classifier' in msg


def test_tokens_are_those_of_open_clip():
    tokens = tokenize_class_names(NAMES, 16, prompt_template='a video of {}.')
    ref = open_clip.tokenize([f'a video of {n}.' for n in NAMES],
                             context_length=16)
    assert tokens.tolist() == ref.tolist()
