"""The U-Net decoder on Swin-T and ConvNeXt-T (``unet_swin_t``, ``unet_convnext_tiny``).

Slim configurations keep it quick: the encoders are torchvision's classifier architectures at a
small width, so torchvision's classifier state dict (here random) loads into ``encoder`` with only
its classifier left over, and the encoder then gives torchvision's stage maps; a few optimiser
steps on a tiny synthetic batch reduce the loss; any input size gives logits of that size.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.convnext import CNBlockConfig
from torchvision.models.convnext import ConvNeXt as TorchvisionConvNeXt
from torchvision.models.swin_transformer import SwinTransformer as TorchvisionSwin

from segedu.models import get_model
from segedu.models.semantic.unet_resnet import UNetOnBackbone
from segedu.nn.convnext import convert_torchvision_convnext
from segedu.nn.swin import convert_torchvision_swin

SLIM = {
    "unet_swin_t": dict(backbone_config=dict(embed_dim=16, depths=(2, 2, 2, 2),
                                             num_heads=(1, 2, 4, 8), window_size=4),
                        decoder_channels=(32, 16, 16, 8)),
    "unet_convnext_tiny": dict(backbone_config=dict(dims=(16, 32, 64, 128), depths=(1, 1, 1, 1)),
                               decoder_channels=(32, 16, 16, 8)),
}


def _torchvision_classifier(name: str) -> tuple[torch.nn.Module, dict]:
    """torchvision's classifier of the slim encoder's architecture, and its state dict in
    segedu's names."""
    if name == "unet_swin_t":
        model = TorchvisionSwin(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2, 2],
                                num_heads=[1, 2, 4, 8], window_size=[4, 4])
        return model.eval(), convert_torchvision_swin(model.state_dict())
    widths = (16, 32, 64, 128)
    model = TorchvisionConvNeXt([CNBlockConfig(c, n, 1) for c, n in zip(
        widths, (*widths[1:], None), strict=True)])
    return model.eval(), convert_torchvision_convnext(model.state_dict())


@pytest.mark.parametrize("name", sorted(SLIM))
def test_a_torchvision_classifier_initialises_the_encoder(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=3, **SLIM[name]).eval()
    reference, state = _torchvision_classifier(name)
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    assert missing == [] and sorted(unexpected) == ["head.bias", "head.weight", "norm.bias",
                                                    "norm.weight"]
    x = torch.randn(1, 3, 72, 56)
    with torch.no_grad():
        maps = model.encoder.forward_stages(x)
        theirs = reference.features[:2](x)  # stage 1
        if name == "unet_swin_t":
            theirs = theirs.permute(0, 3, 1, 2)
        torch.testing.assert_close(maps[0], theirs, rtol=1.3e-6, atol=1e-5)
        assert model(x)["out"].shape == (1, 3, 72, 56)
    assert [m.shape[-1] for m in maps] == [14, 7, 4 if name == "unet_swin_t" else 3, 2 if
                                           name == "unet_swin_t" else 1]


@pytest.mark.parametrize("name", sorted(SLIM))
def test_a_few_steps_reduce_the_loss(name):
    """Two 32 x 32 images with a bright square to segment: 15 Adam steps at 3e-3 must bring the
    cross-entropy below 40% of its first value (seeds 0-2 reach 17-27%)."""
    torch.manual_seed(0)
    model = get_model(name, num_classes=2, **SLIM[name]).train()
    images = torch.rand(2, 3, 32, 32) * 0.3
    target = torch.zeros(2, 32, 32, dtype=torch.long)
    for i, (r, c) in enumerate([(4, 6), (14, 10)]):
        images[i, :, r:r + 12, c:c + 12] += 0.7
        target[i, r:r + 12, c:c + 12] = 1
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(model(images)["out"], target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.4 * losses[0], losses


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="backbone must be one of"):
        UNetOnBackbone(backbone="vgg16")
    with pytest.raises(TypeError, match="multiple values for keyword argument 'backbone'"):
        get_model("unet_convnext_tiny", backbone="swin_t")  # the name says the backbone
    with torch.device("meta"), pytest.raises(ValueError, match="need one value per encoder map"):
        get_model("unet_swin_t", decoder_channels=(8, 8, 8))


@pytest.mark.parametrize("name, backbone, total, encoder", [
    ("unet_swin_t", "swin_t", 31_621_147, 27_517_818),
    ("unet_convnext_tiny", "convnext_tiny", 31_921_921, 27_818_592),
])
def test_the_published_sizes(name, backbone, total, encoder):
    """The recorded parameter counts (on the meta device: shapes only); the encoder is the
    classifier less its final norm and linear layer."""
    with torch.device("meta"):
        model = get_model(name)
        classifier = get_model(backbone)
    count = sum(p.numel() for p in model.parameters())
    in_encoder = sum(p.numel() for p in model.encoder.parameters())
    top = sum(p.numel() for n, p in classifier.named_parameters() if n.split(".")[0] in
              ("norm", "head"))
    assert (count, in_encoder) == (total, encoder)
    assert in_encoder == sum(p.numel() for p in classifier.parameters()) - top
