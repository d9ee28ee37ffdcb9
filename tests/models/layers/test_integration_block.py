"""I-Block: no identity term; temporal MLP equals the Conv3d formulation."""
import torch
import torch.nn.functional as F

from projects.dist.models.layers import IntegrationBlock


def test_matches_conv3d_reference_without_identity():
    torch.manual_seed(0)
    blk = IntegrationBlock(8, mlp_ratio=1.0, temporal_mlp_ratio=0.5,
                           temporal_kernel_size=3)
    b, ts, n = 2, 3, 5
    z = torch.randn(b * ts, n, 8)
    got = blk(z, num_videos=b)
    t = blk.temporal_mlp
    y = blk.norm_temporal(z).view(b, ts, n, 8).permute(0, 3, 1, 2)
    y = y.unsqueeze(-1)  # (B, C, Ts, L, 1) as the official code lays it out
    y = F.conv3d(F.conv3d(y, t.reduce.weight, t.reduce.bias),
                 t.temporal.weight, t.temporal.bias, padding=(1, 0, 0))
    y = y * torch.sigmoid(1.702 * y)
    y = F.conv3d(y, t.expand.weight, t.expand.bias)
    y = y.squeeze(-1).permute(0, 2, 3, 1).reshape(b * ts, n, 8)
    ref = blk.mlp(blk.norm(z)) + y
    torch.testing.assert_close(got, ref)
    assert not torch.allclose(got, ref + z)
