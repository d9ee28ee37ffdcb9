"""Tests of the text-embedding classifier head."""
import math

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

from tests.helpers import UNIT_CLASS_NAMES, UNIT_CLIP, unit_head_cfg


def build(**overrides):
    torch.manual_seed(0)
    head = MODELS.build(unit_head_cfg(**overrides))
    head.init_weights()
    return head


def test_logits_are_scaled_cosine_similarities():
    head = build()
    x = torch.randn(4, UNIT_CLIP['embed_dim'])
    logits = head(x)
    text = head.text_encoder(head.text_tokens)
    ref = 100.0 * torch.nn.functional.normalize(x, dim=-1) @ \
        torch.nn.functional.normalize(text, dim=-1).t()
    assert math.isclose(
        head.text_encoder.logit_scale.exp().item(), 100.0, rel_tol=1e-6)
    torch.testing.assert_close(logits, ref)


def build_counting_text_calls():
    """A head, an input and the list its text tower's forwards append to."""
    head = build()
    calls = []
    head.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    return head, torch.randn(2, UNIT_CLIP['embed_dim']), calls


def test_text_features_cached_and_rebuilt_after_loading():
    head, x, calls = build_counting_text_calls()
    first = head(x)
    head(x)
    assert len(calls) == 1  # computed once, then cached
    other = build()
    with torch.no_grad():
        for p in other.text_encoder.parameters():
            p.add_(0.5)
    head.load_state_dict(other.state_dict())
    second = head(x)
    assert len(calls) == 2  # the load invalidated the cache
    assert not torch.allclose(first, second)
    torch.testing.assert_close(second, other(x))


def test_text_features_shared_by_fp32_and_autocast_forwards():
    # the features never depend on autocast: alternating fp32 and bf16
    # forwards (train and val) must not recompute them every time
    head, x, calls = build_counting_text_calls()
    fp32 = head(x)
    for _ in range(2):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = head(x.bfloat16())
        head(x)
    assert len(calls) == 1
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, fp32, atol=0.5, rtol=0.02)
    # replacing the tower's tensors (here: a dtype round trip) recomputes
    head.text_encoder.double().float()
    head(x)
    assert len(calls) == 2


def _load_into_tower(head):
    """Load the tower's own weights, shifted, straight into the tower."""
    state = {k: v + 0.5 for k, v in head.text_encoder.state_dict().items()}
    head.text_encoder.load_state_dict(state)


# event -> what it does to a head whose text features are cached
CACHE_EVENTS = {
    'load into the head': lambda h: h.load_state_dict(h.state_dict()),
    'load into the tower': _load_into_tower,
    'head.to(float64)': lambda h: h.to(torch.float64),
    'tower.to(float64)': lambda h: h.text_encoder.to(torch.float64),
    'class names':
    lambda h: h.set_class_names(list(reversed(UNIT_CLASS_NAMES))),
    'clear_text_cache': lambda h: h.clear_text_cache(),
}


@pytest.mark.parametrize('event', list(CACHE_EVENTS))
def test_each_event_that_changes_text_features_invalidates_the_cache(event):
    head, x, calls = build_counting_text_calls()
    head(x)
    head(x)
    assert len(calls) == 1
    CACHE_EVENTS[event](head)
    head(x)
    assert len(calls) == 2
    head(x)
    assert len(calls) == 2  # cached again


def test_mode_switches_and_no_grad_keep_the_frozen_towers_features():
    head, x, calls = build_counting_text_calls()
    head.train()
    head(x)
    head.eval()
    with torch.no_grad():
        head(x)
    head.train()
    head(x)
    assert len(calls) == 1


def test_unfrozen_tower_is_trained_and_recomputed_after_training():
    text_encoder = dict(type='DiSTCLIPText', arch=UNIT_CLIP, frozen=False)
    calls = []
    torch.manual_seed(0)
    head = MODELS.build(unit_head_cfg(text_encoder=text_encoder))
    head.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(2, UNIT_CLIP['embed_dim'])
    optimizer = torch.optim.SGD(head.text_encoder.parameters(), lr=1.0)
    head.train()
    for step in range(2):  # every training forward runs the tower afresh
        head(x).sum().backward()
        assert head.text_encoder.text.text_projection.grad is not None
        optimizer.step()
        optimizer.zero_grad()
    assert len(calls) == 2
    head.eval()  # the trained weights are used, then cached
    with torch.no_grad():
        out = head(x)
        head(x)
    assert len(calls) == 3
    text = torch.nn.functional.normalize(
        head.text_encoder(head.text_tokens), dim=-1)
    torch.testing.assert_close(
        out, 100.0 * torch.nn.functional.normalize(x, dim=-1) @ text.t())


def test_swapping_class_names_changes_predictions():
    head = build()
    x = torch.randn(2, UNIT_CLIP['embed_dim'])
    head(x)
    new = ['jumping', 'moving right', 'shrinking', 'spinning']
    head.set_class_names(new, num_classes=4)
    out = head(x)
    assert out.shape == (2, 4)
    ref = build(class_names=new, num_classes=4)
    torch.testing.assert_close(out, ref(x))
    assert head.class_names == new


def test_label_file_and_prompt_template(tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text('"moving left"\nmoving right\ngrowing\n\n')
    head = build(class_names=str(path), prompt_template='a video of {}.')
    assert head.class_names == UNIT_CLASS_NAMES
    import open_clip
    ref = open_clip.tokenize(['a video of moving left.'],
                             context_length=UNIT_CLIP['context_length'])
    assert torch.equal(head.text_tokens[0], ref[0])


@pytest.mark.parametrize('overrides, exc, match', [
    (dict(num_classes=4), ValueError, r'3 class names .* num_classes=4'),
    (dict(class_names=['a', 'b', 'a']), ValueError,
     r"duplicate class name\(s\) \['a'\]"),
    (dict(class_names=['a', ' ', 'b']), ValueError,
     r'empty class name\(s\) at index/indices \[1\]'),
    (dict(class_names='no/such/labels.txt'), FileNotFoundError,
     'no/such/labels.txt'),
    (dict(class_names=None), ValueError, r'needs class_names'),
    (dict(in_channels=8), ValueError, r'in_channels=8 .* size 16'),
    (dict(classifier='mlp'), ValueError, r"'text' or 'linear'"),
])
def test_bad_arguments_raise(overrides, exc, match):
    with pytest.raises(exc, match=match):
        MODELS.build(unit_head_cfg(**overrides))


def test_linear_classifier_option_trains_without_text_tower():
    head = build(classifier='linear', class_names=None, dropout_ratio=0.5)
    assert head.text_encoder is None
    x = torch.randn(3, UNIT_CLIP['embed_dim'])
    samples = [ActionDataSample().set_gt_label(i) for i in range(3)]
    losses = head.loss_by_feat(head(x), samples)
    losses['loss_cls'].backward()
    assert head.fc_cls.weight.grad is not None
    with pytest.raises(RuntimeError, match='text classifier'):
        head.set_class_names(['x', 'y', 'z'])


def test_loss_with_label_smoothing_and_multi_view_averaging():
    head = build(label_smooth_eps=0.1, average_clips='prob')
    x = torch.randn(6, UNIT_CLIP['embed_dim'])
    samples = [ActionDataSample().set_gt_label(i % 3) for i in range(6)]
    loss = head.loss(x, samples)
    assert loss['loss_cls'].item() > 0
    preds = head.predict(x, samples[:2])  # 3 views per video
    assert len(preds) == 2
    torch.testing.assert_close(preds[0].pred_score.sum(), torch.tensor(1.))


def test_shipped_label_file_resolves_from_any_directory(tmp_path, monkeypatch):
    from projects.dist.models.utils.class_names import load_class_names
    monkeypatch.chdir(tmp_path)  # no projects/ folder here
    names = load_class_names('projects/dist/label_maps/kinetics400.txt')
    assert len(names) == 400 and names[0] == 'abseiling'


@pytest.mark.parametrize('overrides, match', [
    (dict(prompt_template='a video'), r'has 0 placeholder'),
    (dict(class_names=['moving left', 'Moving  Left', 'growing']),
     r"id 0 'moving left' and id 1 'Moving  Left' .* identical text "
     r'tokens'),
    (dict(class_names=['moving left ' * 8, 'moving right', 'growing']),
     r'longer than the text tower\'s context length of 16 tokens'),
    (dict(class_names=['0 moving left', '1 moving right', '2 growing']),
     r'numeric first column'),
])
def test_class_names_that_would_share_a_classifier_are_refused(
        overrides, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(unit_head_cfg(**overrides))


def test_refused_label_set_leaves_the_head_unchanged():
    head = build()
    x = torch.randn(2, UNIT_CLIP['embed_dim'])
    before = head(x)
    with pytest.raises(ValueError, match='identical text tokens'):
        head.set_class_names(['a', 'b', 'c', 'A'], num_classes=4)
    assert head.num_classes == 3 and head.class_names == UNIT_CLASS_NAMES
    torch.testing.assert_close(head(x), before)


def test_input_projection_from_another_width():
    width = 24  # not the text tower's 16
    head = build(in_channels=width, project_input=True)
    assert isinstance(head.input_proj, torch.nn.Linear)
    assert head.input_proj.weight.shape == (UNIT_CLIP['embed_dim'], width)
    x = torch.randn(3, width)
    logits = head(x)
    text = torch.nn.functional.normalize(
        head.text_encoder(head.text_tokens), dim=-1)
    ref = 100.0 * torch.nn.functional.normalize(
        head.input_proj(x), dim=-1) @ text.t()
    torch.testing.assert_close(logits, ref)
    samples = [ActionDataSample().set_gt_label(i) for i in range(3)]
    head.loss_by_feat(logits, samples)['loss_cls'].backward()
    assert head.input_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in head.text_encoder.parameters())


def test_input_projection_is_off_by_default():
    head = build()
    assert head.input_proj is None
    assert not any('input_proj' in k for k in head.state_dict())
    with pytest.raises(ValueError, match='set project_input=True'):
        MODELS.build(unit_head_cfg(in_channels=24))
    with pytest.raises(ValueError, match="needs classifier='text'"):
        MODELS.build(
            unit_head_cfg(
                classifier='linear', class_names=None, project_input=True))


@pytest.mark.parametrize('shape, match', [
    ((2, 8), r'got \(2, 8\); set in_channels=8 \(with project_input=True'),
    ((2, 16, 1, 1, 1), r'needs a pooling neck'),
])
def test_wrong_embedding_shape_names_the_fix(shape, match):
    head = build()
    with pytest.raises(ValueError, match=match):
        head(torch.randn(shape))
