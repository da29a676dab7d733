"""segedu.nn.MLP against segment-anything's MLP (the head Mask2Former and SAM share)."""

import pytest
import torch
from segment_anything.modeling.mask_decoder import MLP as SamMLP

from segedu.nn import MLP


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("sigmoid_output", [False, True])
def test_mlp_matches_segment_anything(num_layers, sigmoid_output):
    torch.manual_seed(num_layers)
    theirs = SamMLP(12, 20, 7, num_layers, sigmoid_output)
    ours = MLP(input_dim=12, hidden_dim=20, output_dim=7, num_layers=num_layers,
               sigmoid_output=sigmoid_output)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # same keys and shapes
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(2, 5, 12)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_mlp_rejects_no_layers():
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        MLP(input_dim=4, hidden_dim=4, output_dim=4, num_layers=0)
