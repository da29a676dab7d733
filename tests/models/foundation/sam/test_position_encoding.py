"""The random Fourier feature encoding against segment-anything's ``PositionEmbeddingRandom``."""

import pytest
import torch
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom as Reference

from segedu.models.foundation.sam import PositionEmbeddingRandom


@pytest.fixture
def pair():
    torch.manual_seed(0)
    reference = Reference(16, scale=2.0)
    ours = PositionEmbeddingRandom(num_pos_feats=16)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def test_gaussian_matrix_is_a_buffer_named_as_reference(pair):
    reference, ours = pair
    assert list(ours.state_dict()) == ["positional_encoding_gaussian_matrix"]
    assert dict(ours.named_buffers()).keys() == {"positional_encoding_gaussian_matrix"}
    assert not list(ours.parameters())  # not learned
    assert ours.positional_encoding_gaussian_matrix.shape == (2, 16)
    # scale multiplies the standard normal samples; None or <= 0 means 1
    torch.manual_seed(1)
    a = PositionEmbeddingRandom(num_pos_feats=4, scale=3.0).positional_encoding_gaussian_matrix
    torch.manual_seed(1)
    b = PositionEmbeddingRandom(num_pos_feats=4, scale=-1.0).positional_encoding_gaussian_matrix
    torch.testing.assert_close(a, 3 * b)


@pytest.mark.parametrize("size", [(8, 8), (5, 7), (1, 3)])
def test_dense_grid_encoding_equals_reference(pair, size):
    reference, ours = pair
    out = ours(size)
    assert out.shape == (32, *size)
    torch.testing.assert_close(out, reference(size), rtol=0, atol=1e-6)


def test_point_encoding_equals_reference(pair):
    reference, ours = pair
    coords = torch.rand(3, 5, 2) * torch.tensor([200.0, 100.0])
    coords[0, 0] = torch.tensor([0.0, 0.0])  # a corner, and a point outside the image
    coords[0, 1] = torch.tensor([250.0, -3.0])
    out = ours.forward_with_coords(coords, (100, 200))
    assert out.shape == (3, 5, 32)
    torch.testing.assert_close(
        out, reference.forward_with_coords(coords, (100, 200)), rtol=0, atol=1e-6
    )
    # x is normalised by the width, y by the height: swapping the size changes the code
    assert not torch.allclose(out, ours.forward_with_coords(coords, (200, 100)))
    # the input is not modified, and a double input gives the float32 code
    assert coords[0, 1, 0] == 250.0
    assert ours.forward_with_coords(coords.double(), (100, 200)).dtype == torch.float32
