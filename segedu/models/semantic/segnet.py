"""SegNet (Badrinarayanan, Kendall & Cipolla, 2017): an encoder-decoder with max-unpooling.

Reference: V. Badrinarayanan, A. Kendall, R. Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", IEEE TPAMI 39(12), 2017, https://arxiv.org/abs/1511.00561.

The encoder is VGG16-BN's 13 convolutions, without the fully connected layers. Each of its 5
blocks ends in a 2x2 max pooling that *remembers where every maximum was* (``return_indices``).
The decoder mirrors the encoder: each decoder block first *unpools* with the indices of its
encoder block (every value goes back to the position of its maximum, zeros elsewhere: a sparse
map, no parameters to learn), then its convolutions densify that map::

    input (3, H, W)
      enc1: 2 conv ─ pool ─────────── indices1, size1 ───────────── unpool ─ 1 conv ─ classifier
        enc2: 2 conv ─ pool ───────── indices2, size2 ─────── unpool ─ 2 conv ─┘
          enc3: 3 conv ─ pool ─────── indices3, size3 ─ unpool ─ 3 conv ─┘
            enc4: 3 conv ─ pool ───── indices4, size4 ─ unpool ─ 3 conv ─┘
              enc5: 3 conv ─ pool ─── indices5, size5 ─ unpool ─ 3 conv ─┘
                  (512, H/32, W/32)

Channels of the decoder's 3x3 conv-BN-ReLU layers, deepest block first, mirroring the encoder
(64, 64 | 128, 128 | 256, 256, 256 | 512, 512, 512 | 512, 512, 512) as in the paper's decoder
(and its Caffe reference model ``segnet_train.prototxt``)::

    512, 512, 512 | 512, 512, 256 | 256, 256, 128 | 128, 64 | 64

then a final 3x3 convolution (with bias, no BN or ReLU) from 64 channels to ``num_classes``
logits, the paper's "trainable soft-max classifier" (``conv1_1_D`` in the Caffe model).
Unlike FCN and U-Net, SegNet passes only the *indices* from encoder to decoder, not the feature
maps: the decoder is cheap in memory and the boundaries come back at the right places.

Choices of this implementation (state them when comparing):

- the decoder's convolutions have no bias (a batch norm follows and subtracts the mean anyway);
  the encoder's keep theirs, so that torchvision's ``vgg16_bn`` weights load
  (:func:`load_vgg16_bn_encoder`);
- every unpooling receives the size of the map *before* its pooling, so odd sizes work:
  a 65-pixel map pools to 32 and unpools back to 65, not 64.

Registered builder: ``get_model("segnet", num_classes=..., in_channels=3)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ...nn.unpooling import max_unpool2d
from ...nn.vgg import vgg16_config, vgg_features
from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter

__all__ = ["SegNetDecoderBlock", "SegNet", "segnet", "load_vgg16_bn_encoder", "DECODER_CHANNELS"]

# Channels of the decoder's conv-BN-ReLU layers, deepest block first: (in, out1, out2, ...).
DECODER_CHANNELS = (
    (512, 512, 512, 512),  # mirrors encoder block 5: unpool, then 512 -> 512 -> 512 -> 512
    (512, 512, 512, 256),  # mirrors block 4: its last convolution halves the channels
    (256, 256, 256, 128),  # mirrors block 3
    (128, 128, 64),  # mirrors block 2
    (64, 64),  # mirrors block 1; the classifier follows
)


class SegNetDecoderBlock(nn.Module):
    """Max-unpooling with the encoder's indices, then 3x3 conv-BN-ReLU layers.

    ``channels = (C_in, C_1, ..., C_k)``: k convolutions C_in -> C_1 -> ... -> C_k.
    Shapes: x (N, C_in, h, w), indices (N, C_in, h, w), size (H, W) with h = H // 2
    -> (N, C_k, H, W).
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),  # BN follows: no bias
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
        # 1. sparse up-sampling: each value back at its argmax, zeros elsewhere
        x = max_unpool2d(x, indices, kernel_size=2, stride=2, output_size=size)  # (N, C_in, H, W)
        # 2. the convolutions fill in the zeros
        return self.convs(x)  # (N, C_k, H, W)


class SegNet(SemanticSegmenter):
    """SegNet with a VGG16-BN encoder: (N, in_channels, H, W) -> {"out": (N, num_classes, H, W)}.

    Any H, W >= 32 work (the five poolings need at least one pixel at 1/32).

    ``encoder`` is numbered exactly as torchvision's ``vgg16_bn().features`` (conv, BN, ReLU, ...,
    pooling), only its poolings also return their indices; ``decoders`` holds the five
    :class:`SegNetDecoderBlock` (deepest first) and ``classifier`` the final convolution.
    ``width`` scales every channel count (64: the published network; the zoo's slim SegNet has 8).
    """

    def __init__(self, *, num_classes: int = 21, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.encoder = vgg_features(vgg16_config(width), in_channels=in_channels, batch_norm=True)
        for i, layer in enumerate(self.encoder):
            if isinstance(layer, nn.MaxPool2d):  # same pooling, but remembering the argmax
                self.encoder[i] = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.decoders = nn.ModuleList(
            SegNetDecoderBlock(tuple(c * width // 64 for c in block)) for block in DECODER_CHANNELS)
        self.classifier = nn.Conv2d(width, num_classes, 3, padding=1)  # paper: conv then soft-max

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Size]]:
        """(N, C, H, W) -> features (N, 512, H/32, W/32), and for each pooling (first to last)
        its indices and the size of its input."""
        indices, sizes = [], []
        for layer in self.encoder:
            if isinstance(layer, nn.MaxPool2d):
                sizes.append(x.shape[-2:])  # (H_i, W_i): needed to undo the pooling exactly
                x, where = layer(x)  # (N, C_i, H_i // 2, W_i // 2), same shape of int64 indices
                indices.append(where)
            else:
                x = layer(x)  # conv / BN / ReLU: the size is kept
        return x, indices, sizes

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        if min(x.shape[-2:]) < 32:
            raise ValueError("SegNet needs H, W >= 32 (five 2x2 poolings), got "
                             f"{tuple(x.shape[-2:])}")
        x, indices, sizes = self.encode(x)  # (N, 512, H/32, W/32)
        for decoder in self.decoders:  # deepest first: use the last pooling's indices first
            x = decoder(x, indices.pop(), sizes.pop())  # sizes double back: H/16, H/8, ..., H
        return {"out": self.classifier(x)}  # (N, num_classes, H, W)


@register_model("segnet")
def segnet(*, num_classes: int = 21, in_channels: int = 3, width: int = 64) -> SegNet:
    """SegNet with a VGG16-BN encoder (randomly initialised; see :func:`load_vgg16_bn_encoder`)."""
    return SegNet(num_classes=num_classes, in_channels=in_channels, width=width)


def load_vgg16_bn_encoder(model: SegNet, state_dict: Mapping[str, torch.Tensor]) -> SegNet:
    """Copy torchvision's ``vgg16_bn`` weights (its ``features.*`` entries) into the encoder.

    The encoder has torchvision's numbering, so ``features.<i>.<name>`` is ``encoder.<i>.<name>``;
    the classifier's entries (fully connected layers) are not used. Every encoder entry must be
    present with the same shape (the model needs ``in_channels=3``). Returns the model.
    """
    encoder_state = {key.removeprefix("features."): value for key, value in state_dict.items()
                     if key.startswith("features.")}
    try:
        model.encoder.load_state_dict(encoder_state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"not a vgg16_bn state dict for this encoder: {error}") from None
    return model
