"""Prompt templates and template ensembles of the text head, and the public
text-embedding API (``encode_texts``) the inference tools use."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS

from projects.dist.models.heads import encode_texts, ensemble_text_features
from projects.dist.models.utils.class_names import (load_class_names,
                                                    load_prompt_templates,
                                                    tokenize_prompts)
from tests.helpers import REPO_ROOT, UNIT_CLASS_NAMES, UNIT_CLIP, unit_head_cfg
from tests.numerics import assert_close_rounding

TEMPLATES = ['a video of {}.', 'a person {}.', '{}, an action.']
ENSEMBLE_FILE = osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps',
                         'templates', 'video_ensemble.txt')


def build(**overrides):
    torch.manual_seed(0)  # every head gets the same text tower
    head = MODELS.build(unit_head_cfg(**overrides))
    head.init_weights()
    return head


def one_template_features(template, names=UNIT_CLASS_NAMES):
    """(K, E) normalised features of the names under one template, from a
    head that knows nothing of ensembles (the single-template path)."""
    head = build(class_names=list(names), prompt_template=template)
    with torch.no_grad():
        return F.normalize(head.text_encoder(head.text_tokens), dim=-1)


def test_ensemble_is_renormalised_mean_of_template_embeddings():
    head = build(prompt_templates=TEMPLATES)
    assert head.text_tokens.shape == (len(TEMPLATES) * len(UNIT_CLASS_NAMES),
                                      UNIT_CLIP['context_length'])
    per_template = torch.stack([one_template_features(t) for t in TEMPLATES])
    want = F.normalize(per_template.mean(0), dim=-1)
    got = head.text_features(torch.zeros(1))
    # a mean over P templates, then a norm over E channels
    assert_close_rounding(got, want, reduction=UNIT_CLIP['embed_dim'])
    # and not just any one template's features
    for single in per_template:
        assert (got - single).abs().max() > 1e-3
    x = torch.randn(4, UNIT_CLIP['embed_dim'])
    assert_close_rounding(
        head(x),
        100.0 * F.normalize(x, dim=-1) @ want.t(),
        reduction=UNIT_CLIP['embed_dim'])


def test_one_template_list_equals_prompt_template():
    single = build(prompt_template=TEMPLATES[0])
    listed = build(prompt_templates=TEMPLATES[:1])
    assert listed.prompt_templates == single.prompt_templates == TEMPLATES[:1]
    assert torch.equal(listed.text_tokens, single.text_tokens)
    x = torch.randn(2, UNIT_CLIP['embed_dim'])
    assert torch.equal(listed(x), single(x))


def test_template_file_equals_list(tmp_path):
    path = tmp_path / 'templates.txt'
    path.write_text('\n'.join(TEMPLATES) + '\n\n')
    from_file = build(prompt_templates=str(path))
    from_list = build(prompt_templates=TEMPLATES)
    assert from_file.prompt_templates == TEMPLATES
    assert torch.equal(from_file.text_tokens, from_list.text_tokens)


def test_encode_texts_matches_the_head_and_keeps_its_classes():
    head = build(prompt_templates=TEMPLATES)
    texts = ['jumping', 'a dog runs after a ball']
    raw = head.encode_texts(texts)
    assert raw.shape == (2, UNIT_CLIP['embed_dim'])
    assert raw.dtype == torch.float32
    torch.testing.assert_close(raw.norm(dim=-1), torch.ones(2))
    # the raw texts give what a head with those class names computes
    ref = build(class_names=texts, num_classes=2)
    assert torch.equal(raw, ref.text_features(torch.zeros(1)))
    # with the head's templates, the head's own ensemble
    own = head.encode_texts(UNIT_CLASS_NAMES, head.prompt_templates)
    assert torch.equal(own, head.text_features(torch.zeros(1)))
    assert head.class_names == UNIT_CLASS_NAMES and head.num_classes == 3
    # the module-level function is the same computation
    assert torch.equal(encode_texts(head.text_encoder, texts), raw)
    # scores against free texts: the head's similarity
    x = torch.randn(3, UNIT_CLIP['embed_dim'])
    assert torch.equal(head.similarity(x, raw), ref(x))


def test_set_class_names_keeps_or_replaces_templates():
    head = build(prompt_templates=TEMPLATES)
    new = ['jumping', 'spinning']
    head.set_class_names(new, num_classes=2)
    assert head.prompt_templates == TEMPLATES
    want = build(class_names=new, num_classes=2, prompt_templates=TEMPLATES)
    x = torch.randn(2, UNIT_CLIP['embed_dim'])
    assert torch.equal(head(x), want(x))
    head.set_class_names(new, num_classes=2, prompt_templates=None)
    assert head.prompt_templates is None and head.prompt_template is None
    assert torch.equal(head(x), build(class_names=new, num_classes=2)(x))


def test_ensemble_features_shape_is_checked():
    with pytest.raises(ValueError, match=r'\(3 \* K, E\) .* got \(4, 8\)'):
        ensemble_text_features(torch.randn(4, 8), 3)


@pytest.mark.parametrize('overrides, exc, match', [
    (dict(prompt_template='a {}.',
          prompt_templates=['b {}.']), ValueError, 'not both'),
    (dict(prompt_templates=['a {}.', 'b', 'c {}.']), ValueError,
     r"prompt_template 'b' has 0 placeholder"),
    (dict(prompt_templates=['a {}.', 'a {}.']), ValueError,
     r"duplicate prompt template\(s\) \['a {}.'\]"),
    (dict(prompt_templates=[]), ValueError, 'no prompt templates'),
    (dict(prompt_templates='a video of {}.'), ValueError,
     'a single string with'),
    (dict(prompt_templates='no/such/templates.txt'), FileNotFoundError,
     'no/such/templates.txt'),
    (dict(prompt_templates=['a very long prompt ' * 5 + '{}']), ValueError,
     r"longer than the text tower's context length .*'a very long"),
])
def test_bad_templates_are_refused(overrides, exc, match):
    with pytest.raises(exc, match=match):
        MODELS.build(unit_head_cfg(**overrides))


def test_bad_free_texts_are_refused():
    head = build()
    with pytest.raises(TypeError, match='list of strings'):
        head.encode_texts('jumping')
    with pytest.raises(ValueError, match='non-empty strings'):
        head.encode_texts(['jumping', ' '])
    with pytest.raises(ValueError, match='identical text tokens'):
        head.encode_texts(['Jumping', 'jumping'])


@pytest.mark.parametrize('labels', ['ucf101', 'hmdb51', 'kinetics400'])
def test_shipped_ensemble_fits_shipped_label_maps(labels):
    names = load_class_names(
        osp.join(REPO_ROOT, 'projects', 'dist', 'label_maps', f'{labels}.txt'))
    templates = load_prompt_templates(ENSEMBLE_FILE)
    assert len(templates) > 1
    tokens = tokenize_prompts(names, 77, templates, source=labels)
    assert tokens.shape == (len(templates) * len(names), 77)
