"""Spatial encoders of every family: the tokens DiST's side network
receives equal the library's own block outputs, the activation comes from
open_clip's configs, and a tower is refused where it cannot be used."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from open_clip.transformer import QuickGELU

from projects.dist.models.backbones import (DiSTCLIPVisual, DiSTOpenCLIPVisual,
                                            check_spatial_encoder)
from projects.dist.models.backbones.open_clip_visual import \
    resolve_open_clip_tower
from projects.dist.models.heads import DiSTCLIPText
from projects.dist.models.utils.state_checks import CheckpointMismatchError
from tests.helpers import UNIT_CLIP
from tests.models.backbones.tiny_towers import (IMAGE_SIZE, TIMM_TOWERS,
                                                register_open_clip_configs)

# tower config, how to reach the library's blocks, prefix tokens P
FAMILIES = {
    'DiSTCLIPVisual (OpenAI, QuickGELU)':
    (dict(type='DiSTCLIPVisual', arch=dict(UNIT_CLIP, image_size=IMAGE_SIZE)),
     lambda t: t.visual.transformer.resblocks, 1),
    'open_clip QuickGELU':
    (dict(type='DiSTOpenCLIPVisual', model_name='DiSTTiny-ViT-quickgelu'),
     lambda t: t.visual.transformer.resblocks, 1),
    'open_clip GELU':
    (dict(type='DiSTOpenCLIPVisual', model_name='DiSTTiny-ViT'),
     lambda t: t.visual.transformer.resblocks, 1),
    'open_clip timm trunk, no class token, 2 registers':
    (dict(type='DiSTOpenCLIPVisual',
          model_name='DiSTTiny-SigLIP'), lambda t: t.visual.trunk.blocks, 2),
    'timm ViT, class token + 2 registers': (TIMM_TOWERS['class+registers'],
                                            lambda t: t.model.blocks, 3),
    'timm ViT, no class token': (TIMM_TOWERS['no class token'],
                                 lambda t: t.model.blocks, 0),
}


@pytest.fixture(autouse=True, scope='module')
def _open_clip_configs():
    register_open_clip_configs()


def _tiny_dist(tower: dict, **kwargs):
    return MODELS.build(
        dict(
            type='DiST',
            spatial_encoder=tower,
            num_frames=4,
            alpha=2,
            selected_layers=(0, 2),
            integration_dim=16,
            temporal_dim=8,
            temporal_patch_size=3,
            num_ada_layers=1,
            ada_heads=2,
            **kwargs))


@pytest.mark.parametrize('family', list(FAMILIES))
def test_side_network_receives_the_library_block_outputs(family):
    """What DiST passes to its side network equals the library's own block
    outputs of the same frames, captured by forward hooks during the
    library's own full forward: class token (or the mean patch token) first,
    then the patches; register tokens dropped."""
    tower_cfg, blocks_of, num_prefix = FAMILIES[family]
    torch.manual_seed(0)
    model = _tiny_dist(tower_cfg)
    model.init_weights()
    tower = model.spatial_encoder
    clips = torch.randn(2, 3, 4, IMAGE_SIZE, IMAGE_SIZE)
    feats = model.spatial_features(clips)

    seen = {}
    handles = [
        blocks_of(tower)[i].register_forward_hook(
            lambda m, a, out, i=i: seen.__setitem__(i, out)) for i in (0, 2)
    ]
    frames = clips[:, :, ::2].transpose(1, 2).flatten(0, 1)
    library = getattr(tower, 'visual', None) or tower.model
    with torch.no_grad():
        library(frames)  # the library's own forward of the whole tower
    for h in handles:
        h.remove()
    for got, i in zip(feats, (0, 2)):
        raw = seen[i]
        patches = raw[:, num_prefix:]
        first = raw[:, :1] if tower.frame_token == 'class' else \
            patches.mean(dim=1, keepdim=True)
        want = torch.cat([first, patches], dim=1)
        assert got.shape == (4, 1 + 16, tower.width)
        rel = (got - want).abs().max() / want.abs().max()
        assert rel <= 1e-6, f'{family}, block {i}: relative error {rel}'
    expected_token = 'mean_patch' if 'no class' in family else 'class'
    assert tower.frame_token == expected_token


@pytest.mark.parametrize('family', list(FAMILIES))
def test_towers_are_frozen(family):
    tower = MODELS.build(FAMILIES[family][0])
    check_spatial_encoder(tower)
    tower.train()
    assert all(not m.training for m in tower.children())
    assert not any(p.requires_grad for p in tower.parameters())
    out = tower(torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE), [0])[0]
    assert not out.requires_grad


def _activations(tower) -> set:
    return {
        type(m)
        for m in tower.modules() if isinstance(m, (QuickGELU, nn.GELU))
    }


def test_open_clip_activation_from_model_config():
    quick = DiSTOpenCLIPVisual(model_name='DiSTTiny-ViT-quickgelu')
    gelu = DiSTOpenCLIPVisual(model_name='DiSTTiny-ViT')
    assert _activations(quick) == {QuickGELU}
    assert _activations(gelu) == {nn.GELU}
    assert quick.tower_name == 'open_clip DiSTTiny-ViT-quickgelu (QuickGELU)'
    assert gelu.tower_name == 'open_clip DiSTTiny-ViT (GELU)'


@pytest.mark.parametrize('tag_quick_gelu', [True, False])
@pytest.mark.parametrize('model_name',
                         ['DiSTTiny-ViT-quickgelu', 'DiSTTiny-ViT'])
def test_open_clip_tag_decides_activation_and_normalisation(
        monkeypatch, model_name, tag_quick_gelu):
    """open_clip's pretrained config of the tag says what its weights were
    trained with; the tower is built with that activation and mean/std,
    whatever the model config says."""
    import open_clip
    tag_cfg = dict(
        url='', hf_hub='x/y', mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 0.5))
    if tag_quick_gelu:
        tag_cfg['quick_gelu'] = True
    monkeypatch.setattr(open_clip, 'get_pretrained_cfg',
                        lambda name, tag: tag_cfg if tag == 'tag' else {})
    tower = DiSTOpenCLIPVisual(model_name=model_name, pretrained='tag')
    assert _activations(tower) == {QuickGELU if tag_quick_gelu else nn.GELU}
    assert tower.mean == (127.5, 127.5, 127.5)
    assert tower.std == (63.75, 127.5, 127.5)


def test_gelu_tag_never_runs_quick_gelu():
    """arch='ViT-B/16' with a GELU-trained open_clip tag: the QuickGELU
    towers refuse it (at construction, naming tag and arch); open_clip's
    own configs say which activation each tag needs."""
    for cls in (DiSTCLIPVisual, DiSTCLIPText):
        with pytest.raises(
                ValueError,
                match=r"'laion2b_s34b_b88k' of 'ViT-B-16' was "
                r'trained with GELU.*DiSTOpenCLIPVisual'):
            cls(arch='ViT-B/16', pretrained='laion2b_s34b_b88k')
    assert not resolve_open_clip_tower('ViT-B-16',
                                       'laion2b_s34b_b88k')['quick_gelu']
    assert resolve_open_clip_tower('ViT-B-16', 'openai')['quick_gelu']
    # a QuickGELU-trained tag stays accepted by the OpenAI towers
    DiSTCLIPVisual(arch=dict(UNIT_CLIP, name='ViT-B-16'), pretrained='openai')


def test_open_clip_unknown_names_are_refused():
    with pytest.raises(KeyError, match="no model config named 'ViT-Q-99'"):
        DiSTOpenCLIPVisual(model_name='ViT-Q-99')
    with pytest.raises(
            KeyError,
            match="'nope' is neither a file nor an "
            r"open_clip pretrained tag of 'ViT-B-16'.*openai"):
        resolve_open_clip_tower('ViT-B-16', 'nope')


def test_open_clip_tower_without_tokens_is_refused():
    with pytest.raises(
            ValueError, match="'DiSTTiny-RN' has a ModifiedResNet image "
            'tower'):
        DiSTOpenCLIPVisual(model_name='DiSTTiny-RN')


def test_open_clip_timm_trunk_with_quick_gelu_tag_is_refused(monkeypatch):
    import open_clip
    monkeypatch.setattr(open_clip, 'get_pretrained_cfg',
                        lambda name, tag: dict(quick_gelu=True, url='u'))
    with pytest.raises(
            ValueError,
            match='asks for QuickGELU, but its timm '
            'trunk VisionTransformer'):
        DiSTOpenCLIPVisual(model_name='DiSTTiny-SigLIP', pretrained='tag')


def test_checkpoint_of_another_tower_is_refused_by_name():
    quick = _tiny_dist(FAMILIES['open_clip QuickGELU'][0])
    gelu = _tiny_dist(FAMILIES['open_clip GELU'][0])
    gelu.load_state_dict(gelu.state_dict())  # its own checkpoint loads
    with pytest.raises(
            CheckpointMismatchError,
            match=r'trained with the spatial encoder open_clip '
            r'DiSTTiny-ViT-quickgelu \(QuickGELU\) but the model is '
            r'configured with open_clip DiSTTiny-ViT \(GELU\)'):
        gelu.load_state_dict(quick.state_dict())
    timm_tower = _tiny_dist(TIMM_TOWERS['class+registers'])
    with pytest.raises(
            CheckpointMismatchError,
            match=r'spatial encoder open_clip DiSTTiny-ViT '
            r'\(GELU\) but .* timm vit_base_patch16_224'):
        timm_tower.load_state_dict(gelu.state_dict(), strict=False)
    clip = _tiny_dist(FAMILIES['DiSTCLIPVisual (OpenAI, QuickGELU)'][0])
    with pytest.raises(
            CheckpointMismatchError,
            match=r'DiSTCLIPVisual \(OpenAI CLIP\) but the model '
            r'is configured with open_clip DiSTTiny-ViT'):
        gelu.load_state_dict(clip.state_dict(), strict=False)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'open_clip DiSTTiny-ViT \(GELU\) but the model'
            r' is configured with DiSTCLIPVisual \(OpenAI CLIP\)'):
        clip.load_state_dict(gelu.state_dict(), strict=False)


def test_token_path_needs_a_tower_that_has_it():
    with pytest.raises(
            ValueError,
            match='subsample_before_embedding=False needs .* '
            'timm vit_base_patch16_224 has none'):
        _tiny_dist(
            TIMM_TOWERS['class+registers'], subsample_before_embedding=False)


def test_incomplete_tower_is_refused():

    class NotATower(nn.Module):
        num_layers = 2

    with pytest.raises(TypeError, match=r"NotATower lacks \['width'"):
        check_spatial_encoder(NotATower())


def test_open_clip_tower_builds_on_the_meta_device():
    """get_flops.py and the metafile tests count a model built on 'meta'."""
    with torch.device('meta'):
        tower = DiSTOpenCLIPVisual(model_name='DiSTTiny-ViT')
    assert all(p.is_meta for p in tower.parameters())
