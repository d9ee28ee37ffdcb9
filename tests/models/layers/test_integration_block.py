"""I-Block: no identity term; temporal MLP equals the Conv3d formulation;
the folded forward gives the formula's values and gradients."""
import torch
import torch.nn.functional as F

from projects.dist.models.layers import IntegrationBlock
from tests.numerics import assert_close_rounding


def _block() -> IntegrationBlock:
    torch.manual_seed(0)
    blk = IntegrationBlock(
        8, mlp_ratio=1.5, temporal_mlp_ratio=0.5, temporal_kernel_size=3)
    with torch.no_grad():  # non-trivial LayerNorm affines and biases
        for p in blk.parameters():
            p.normal_(0.0, 0.5)
    return blk


def _reference(blk: IntegrationBlock, z: torch.Tensor, b: int) -> torch.Tensor:
    """The official layout: LN_a -> MLP, LN_b -> Conv3d TFFN, summed."""
    ts, n, c = z.shape[0] // b, z.shape[1], z.shape[2]
    t = blk.temporal_mlp
    y = blk.norm_temporal(z).view(b, ts, n, c).permute(0, 3, 1, 2)
    y = y.unsqueeze(-1)  # (B, C, Ts, L, 1)
    y = F.conv3d(
        F.conv3d(y, t.reduce.weight, t.reduce.bias),
        t.temporal.weight,
        t.temporal.bias,
        padding=(1, 0, 0))
    y = y * torch.sigmoid(1.702 * y)
    y = F.conv3d(y, t.expand.weight, t.expand.bias)
    y = y.squeeze(-1).permute(0, 2, 3, 1).reshape(b * ts, n, c)
    h = blk.mlp.fc1(blk.norm(z))
    h = blk.mlp.fc2(h * torch.sigmoid(1.702 * h))
    return h + y


def test_matches_conv3d_reference_without_identity():
    blk = _block()
    b, ts, n = 2, 3, 5
    z = torch.randn(b * ts, n, 8)
    got = blk(z, num_videos=b)
    ref = _reference(blk, z, b)
    # longest sum: the hidden width (8 x 1.5) and the 3-frame kernel
    assert_close_rounding(got, ref, reduction=12 * 3)
    assert not torch.allclose(got, ref + z)


def test_gradients_match_the_formula():
    blk = _block()
    z = torch.randn(4, 5, 8, requires_grad=True)
    w = torch.randn(4, 5, 8)
    (blk(z, num_videos=2) * w).sum().backward()
    got = {k: p.grad.clone() for k, p in blk.named_parameters()}
    got_z = z.grad.clone()
    blk.zero_grad()
    z.grad = None
    (_reference(blk, z, 2) * w).sum().backward()
    for k, p in blk.named_parameters():
        # weight gradients sum over the 4 x 5 = 20 tokens
        assert_close_rounding(got[k], p.grad, reduction=4 * 5, msg=k)
    assert_close_rounding(got_z, z.grad, reduction=12 * 3)


def test_bf16_autocast_runs_and_stays_close():
    blk = _block()
    z = torch.randn(4, 5, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = blk(z, num_videos=2)
    assert got.dtype == torch.bfloat16
    ref = _reference(blk, z, 2)
    assert (got.float() - ref).abs().max() <= 0.05 * ref.abs().max()


def test_backward_keeps_input_and_pre_activations_only():
    """For backward the block keeps its input z, the output of the joint
    input product (both branches' pre-activations) and the temporal conv's
    pre-activations: not the normalised z, nor any activation."""
    blk = _block()  # C = 8, H = 12, c = 4
    b, ts, n = 2, 3, 50
    m = b * ts * n
    z = torch.randn(b * ts, n, 8, requires_grad=True)
    saved = {}
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.setdefault(t.untyped_storage().data_ptr(), t),
            lambda t: t):
        blk(z, num_videos=b)
    # tensors with more elements than a per-token statistic
    activations = sorted(t.untyped_storage().nbytes() // t.element_size()
                         for t in saved.values()
                         if t.untyped_storage().nbytes() //
                         t.element_size() > m)
    assert activations == [m * 4, m * 8, m * (12 + 4)]
    assert any(t.data_ptr() == z.data_ptr() for t in saved.values())


def test_traces_without_graph_breaks():
    """torch.compile sees the block (custom autograd functions included)
    as one graph."""
    blk = _block()
    z = torch.randn(4, 5, 8, requires_grad=True)
    explained = torch._dynamo.explain(lambda t: blk(t, 2))(z)
    assert explained.graph_break_count == 0, explained.break_reasons
