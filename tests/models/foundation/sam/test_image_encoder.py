"""SAM's image encoder against segment-anything's ``ImageEncoderViT`` (same random weights):
window partition, decomposed relative positions (also resampled), blocks and the full encoder.

Tolerance: the encoder performs segment-anything's operations in the same order, so outputs agree
to float32 rounding; ``atol=1e-5`` on values of order 1 leaves room for the BLAS choosing another
summation order, nothing more.
"""

import pytest
import torch
from segment_anything.modeling import image_encoder as ref

from segedu.models.foundation.sam import image_encoder, relative_position, windows

from ._pairs import image_encoders


@pytest.mark.parametrize("hw, window", [((8, 8), 4), ((8, 8), 3), ((7, 10), 4), ((5, 5), 8)])
def test_window_partition_matches_reference_and_inverts(hw, window):
    x = torch.randn(2, *hw, 5)
    ours, pad = windows.window_partition(x, window)
    theirs, pad_ref = ref.window_partition(x, window)
    assert pad == pad_ref and torch.equal(ours, theirs)
    back = windows.window_unpartition(ours, window, pad, hw)
    assert torch.equal(back, x)
    assert torch.equal(back, ref.window_unpartition(theirs, window, pad_ref, hw))


@pytest.mark.parametrize(
    "q_size, k_size, length", [(5, 5, 9), (4, 4, 13), (3, 6, 11), (6, 3, 11), (4, 4, 7)]
)
def test_get_rel_pos_matches_reference_including_resampling(q_size, k_size, length):
    """(4, 4, 13) and (3, 6, 11) resample the table (a length other than 2 max - 1); (3, 6)
    and (6, 3) rescale the offsets of the shorter axis."""
    table = torch.randn(length, 6)
    assert torch.equal(
        relative_position.get_rel_pos(q_size, k_size, table), ref.get_rel_pos(q_size, k_size, table)
    )


def test_decomposed_rel_pos_matches_reference():
    b, (qh, qw), (kh, kw), c = 3, (4, 5), (4, 5), 8
    q = torch.randn(b, qh * qw, c)
    attn = torch.randn(b, qh * qw, kh * kw)
    rh, rw = torch.randn(2 * qh - 1, c), torch.randn(2 * qw - 1, c)
    ours = relative_position.add_decomposed_rel_pos(attn, q, rh, rw, (qh, qw), (kh, kw))
    theirs = ref.add_decomposed_rel_pos(attn, q, rh, rw, (qh, qw), (kh, kw))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    # the bias is really position dependent: not the same for every key
    assert (ours - attn).std() > 0.1


@pytest.mark.parametrize("window", [0, 3, 4])
def test_block_matches_reference(window):
    """A windowed block (3: padding 8 -> 9; 4: no padding) and a global block (0)."""
    reference, ours = image_encoders(seed=1, window=window, global_idx=())
    x = torch.randn(2, 8, 8, 32)
    torch.testing.assert_close(ours.blocks[0](x), reference.blocks[0](x), rtol=0, atol=1e-5)


def test_encoder_tokens_match_reference_windowed_and_global():
    reference, ours = image_encoders(seed=2)
    assert [b.window_size for b in ours.blocks] == [3, 0, 3]  # windowed, global, windowed
    assert ours.blocks[0].attn.rel_pos_h.shape == (5, 16) and ours.blocks[
        1
    ].attn.rel_pos_h.shape == (15, 16)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        out, expected = ours(x), reference(x)
    assert out.shape == (2, 32, 8, 8)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_relative_positions_matter():
    """A test that can fail: zeroing the relative position tables changes the output."""
    _, ours = image_encoders(seed=3)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        before = ours(x)
        for block in ours.blocks:
            block.attn.rel_pos_h.zero_()
        assert not torch.allclose(ours(x), before, atol=1e-3)


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="multiple of patch_size"):
        image_encoder.ImageEncoderViT(img_size=100, patch_size=16)
    with pytest.raises(ValueError, match="must divide"):
        image_encoder.Attention(dim=30, num_heads=4)
