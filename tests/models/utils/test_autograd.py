"""records_grad: whether autograd would record an operation; conv3d_backward:
the gradients of a stride-1 3D convolution."""
import pytest
import torch
import torch.nn.functional as F

from projects.dist.models.utils.autograd import conv3d_backward, records_grad


def test_records_grad():
    leaf = torch.zeros(2, requires_grad=True)
    plain = torch.zeros(2)
    assert records_grad(plain, None, leaf)
    assert not records_grad(plain, None)
    with torch.no_grad():
        assert not records_grad(leaf)


@pytest.mark.parametrize('with_bias', [True, False])
def test_conv3d_backward_matches_autograd(with_bias):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5, 5, requires_grad=True)
    w = torch.randn(6, 3, 3, 1, 3, requires_grad=True)
    b = torch.randn(6, requires_grad=True) if with_bias else None
    out = F.conv3d(x, w, b, padding=(1, 0, 1))
    grad = torch.randn_like(out)
    expected = torch.autograd.grad(out, [x, w] + ([b] if with_bias else []),
                                   grad)
    gx, gw, gb = conv3d_backward(grad, x.detach(), w.detach(),
                                 [6] if with_bias else None, (1, 0, 1), True,
                                 True, True)
    torch.testing.assert_close(gx, expected[0])
    torch.testing.assert_close(gw, expected[1])
    if with_bias:
        torch.testing.assert_close(gb, expected[2])
    else:
        assert gb is None
    # only what is asked for
    gx, gw, gb = conv3d_backward(grad, x.detach(), w.detach(), None, (1, 0, 1),
                                 False, True, False)
    assert gx is None and gb is None
    torch.testing.assert_close(gw, expected[1])
