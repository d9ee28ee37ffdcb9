"""LayerNorm32 computes in float32 and returns the input dtype."""
import torch

from projects.dist.models.layers import LayerNorm32, QuickGELU


def test_layernorm32_dtype_and_value():
    ln = LayerNorm32(8)
    x = torch.randn(3, 8)
    torch.testing.assert_close(ln(x), torch.nn.functional.layer_norm(
        x, (8, ), ln.weight, ln.bias))
    assert ln(x.bfloat16()).dtype == torch.bfloat16


def test_quick_gelu():
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(QuickGELU()(x), x * torch.sigmoid(1.702 * x))
