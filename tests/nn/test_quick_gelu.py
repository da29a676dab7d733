"""segedu.nn.QuickGELU against transformers' ``quick_gelu`` (the activation of its CLIP, CLIPSeg
and OneFormer text encoder), on random inputs, extremes and an empty tensor."""

from __future__ import annotations

import pytest
import torch

from segedu.nn import QuickGELU

activations = pytest.importorskip("transformers.activations")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_transformers_quick_gelu(dtype):
    reference = activations.ACT2FN["quick_gelu"]
    generator = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(3, 7, 5, generator=generator, dtype=dtype).flatten() * 4,
                   torch.tensor([0.0, -30.0, 30.0, -2.27, 1e-8], dtype=dtype)])
    torch.testing.assert_close(QuickGELU()(x), reference(x), rtol=0, atol=0)
    assert QuickGELU()(torch.empty(0, 4, dtype=dtype)).shape == (0, 4)


def test_is_not_gelu():
    """The reason it is its own layer: at -2.27 it differs from GELU by about 0.02."""
    x = torch.tensor([-2.27], dtype=torch.float64)
    assert abs(QuickGELU()(x) - torch.nn.functional.gelu(x)).item() > 0.02
