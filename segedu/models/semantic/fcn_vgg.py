"""FCN-32s, FCN-16s and FCN-8s on VGG16 (Long, Shelhamer and Darrell, CVPR 2015).

A classification network becomes *fully convolutional*: VGG16's fully connected layers turn into
convolutions (``fc6``: a 7x7 convolution, 512 -> 4096, which is exactly the ``Linear(25088, 4096)``
applied at every 7x7 window; ``fc7``: 1x1, 4096 -> 4096), a 1x1 ``score`` convolution gives K class
scores per position, and a learnable transposed convolution up-samples them back to the image.

- **FCN-32s**: scores at stride 32, up-sampled x32 in one step (kernel 64).
- **FCN-16s**: scores at stride 32, up-sampled x2 and added to 1x1 scores of ``pool4`` (stride 16),
  then up-sampled x16: finer boundaries from a finer layer.
- **FCN-8s**: the same once more with ``pool3`` (stride 8), then x8.

As in the reference Caffe models, the first convolution pads by 100 pixels (so that even a small
image survives five poolings and the 7x7 ``fc6``), the poolings round up (``ceil_mode``), the
up-sampling kernels start as bilinear interpolation, the score layers start at zero, and every
skip and the output are **cropped** to align with the image. The crop offsets are derived here, by
composing each layer's map from feature coordinates to image coordinates (:func:`coordinate_map`):
they come out as the reference's 19 (32s), 5 and 27 (16s), 5, 9 and 31 (8s).
"""

from __future__ import annotations

import torch
from torch import nn

from ...nn.vgg import VGG16_CONFIG, vgg16_config, vgg_features
from ..registry import register_model
from .base import SemanticOutput, SemanticSegmenter

__all__ = ["coordinate_map", "bilinear_kernel", "FCN", "fcn32s", "fcn16s", "fcn8s",
           "load_vgg16_weights"]


def coordinate_map(layers: list[tuple[str, int, int, int]]) -> tuple[float, float]:
    """``(scale, shift)`` with ``image_x = scale * x + shift`` for the centre of feature
    position ``x``.

    ``layers`` lists ``(kind, kernel, stride, padding)`` from the image up, kind ``"conv"`` (or a
    pooling) or ``"deconv"``. A convolution's output ``o`` is centred on input
    ``s * o + (k - 1) / 2 - p``; a transposed convolution inverts that: its output ``o`` comes from
    input ``(o - (k - 1) / 2 + p) / s``.
    """
    scale, shift = 1.0, 0.0
    for kind, kernel, stride, padding in layers:
        offset = (kernel - 1) / 2 - padding
        if kind == "deconv":
            scale, shift = scale / stride, shift - scale * offset / stride
        else:
            scale, shift = scale * stride, shift + scale * offset
    return scale, shift


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """(C, C, k, k) weights of a transposed convolution that interpolates each
    channel bilinearly."""
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    ramp = 1 - (torch.arange(kernel_size, dtype=torch.float64) - centre).abs() / factor  # a tent
    weight = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=torch.float64)
    weight[range(channels), range(channels)] = ramp[:, None] * ramp[None, :]  # channel c -> c only
    return weight.float()


# VGG16's layers as (kind, kernel, stride, padding), up to each pooling; conv1_1 pads by 100
def _vgg_layers(until_pool: int) -> list[tuple[str, int, int, int]]:
    layers, pools = [], 0
    for item in VGG16_CONFIG:
        if item == "M":
            layers.append(("pool", 2, 2, 0))
            pools += 1
            if pools == until_pool:
                return layers
        else:
            layers.append(("conv", 3, 1, 100 if not layers else 1))
    return layers


class FCN(SemanticSegmenter):
    """FCN on VGG16 with ``skips`` finer layers fused: 0 (32s), 1 (16s, pool4), 2 (8s, pool3 too).

    ``forward``: (N, 3, H, W) -> ``{"out": (N, num_classes, H, W)}``, for H, W >= 1 (the 100-pixel
    padding makes any size valid).

    ``width`` (64) is the channel count of VGG16's first block and ``fc_channels`` (4096) that of
    ``fc6`` and ``fc7``; smaller values give the slim FCN of :mod:`segedu.zoo`. Only the published
    sizes take VGG16's weights (:func:`load_vgg16_weights`).
    """

    def __init__(self, *, num_classes: int = 21, skips: int = 2, width: int = 64,
                 fc_channels: int = 4096) -> None:
        super().__init__()
        if skips not in (0, 1, 2):
            raise ValueError(f"skips must be 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s), got {skips!r}")
        if isinstance(fc_channels, bool) or not isinstance(fc_channels, int) or fc_channels < 1:
            raise ValueError(f"fc_channels must be a positive int, got {fc_channels!r}")
        self.skips = skips
        config = vgg16_config(width)
        # torchvision's vgg16().features at width 64, names and all
        self.features = vgg_features(config)
        self.features[0].padding = (100, 100)
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                layer.ceil_mode = True  # Caffe's pooling rounds up
        pool3, pool4, pool5 = 4 * width, 8 * width, 8 * width  # channels: 256, 512, 512 at width 64
        # the fully connected layers, as convolutions
        self.fc6 = nn.Conv2d(pool5, fc_channels, 7)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(0.5)
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        scores = [self.score_fr]
        if skips >= 1:
            self.score_pool4 = nn.Conv2d(pool4, num_classes, 1)
            self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
            scores.append(self.score_pool4)
        if skips == 2:
            self.score_pool3 = nn.Conv2d(pool3, num_classes, 1)
            self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2,
                                                    bias=False)
            scores.append(self.score_pool3)
        final_stride = (32, 16, 8)[skips]
        self.upscore = nn.ConvTranspose2d(num_classes, num_classes, 2 * final_stride,
                                          stride=final_stride, bias=False)
        # the reference's initialisation: zero scores, bilinear up-sampling
        for layer in scores:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for layer in self.modules():
            if isinstance(layer, nn.ConvTranspose2d):
                layer.weight.data.copy_(bilinear_kernel(num_classes, layer.kernel_size[0]))
        self.offsets = self.crop_offsets(skips)

    @staticmethod
    def crop_offsets(skips: int) -> dict[str, int]:
        """Where each skip and the output are cropped, from the coordinate maps of the layers."""
        head = [("conv", 7, 1, 0), ("conv", 1, 1, 0), ("conv", 1, 1, 0)]  # fc6, fc7, score_fr
        path = _vgg_layers(5) + head
        offsets = {}
        for name, pool in [("pool4", 4), ("pool3", 3)][:skips]:
            path = path + [("deconv", 4, 2, 0)]  # x2 up-sampling of the scores so far
            scale, shift = coordinate_map(path)
            skip_scale, skip_shift = coordinate_map(_vgg_layers(pool) + [("conv", 1, 1, 0)])
            assert scale == skip_scale
            offsets[name] = round((shift - skip_shift) / scale)  # skip index = fused index + offset
        final_stride = (32, 16, 8)[skips]
        _, shift = coordinate_map(path + [("deconv", 2 * final_stride, final_stride, 0)])
        offsets["out"] = round(-shift)  # output index = image index + offset
        return offsets

    @staticmethod
    def _crop(x: torch.Tensor, offset: int, like: torch.Tensor) -> torch.Tensor:
        height, width = like.shape[-2:]
        return x[..., offset: offset + height, offset: offset + width]

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        size = x.shape[-2:]
        pools = []
        h = x
        for layer in self.features:  # keep the outputs of pool3 and pool4 for the skips
            h = layer(h)
            if isinstance(layer, nn.MaxPool2d):
                pools.append(h)
        h = self.dropout(self.relu(self.fc6(h)))  # (N, fc_channels, h5 - 6, w5 - 6)
        h = self.dropout(self.relu(self.fc7(h)))
        scores = self.score_fr(h)  # (N, K, ~H/32, ~W/32)
        if self.skips >= 1:
            scores = self.upscore2(scores)  # x2: stride 16
            skip = self.score_pool4(pools[3])
            scores = scores + self._crop(skip, self.offsets["pool4"], scores)
        if self.skips == 2:
            scores = self.upscore_pool4(scores)  # x2: stride 8
            skip = self.score_pool3(pools[2])
            scores = scores + self._crop(skip, self.offsets["pool3"], scores)
        scores = self.upscore(scores)  # back to the image's stride, a little larger than it
        top = self.offsets["out"]
        return {"out": scores[..., top: top + size[0], top: top + size[1]]}  # (N, K, H, W)


@register_model("fcn32s")
def fcn32s(*, num_classes: int = 21, width: int = 64, fc_channels: int = 4096) -> FCN:
    """FCN-32s: one x32 up-sampling of the stride-32 scores."""
    return FCN(num_classes=num_classes, skips=0, width=width, fc_channels=fc_channels)


@register_model("fcn16s")
def fcn16s(*, num_classes: int = 21, width: int = 64, fc_channels: int = 4096) -> FCN:
    """FCN-16s: stride-32 scores x2, plus pool4's scores, then x16."""
    return FCN(num_classes=num_classes, skips=1, width=width, fc_channels=fc_channels)


@register_model("fcn8s")
def fcn8s(*, num_classes: int = 21, width: int = 64, fc_channels: int = 4096) -> FCN:
    """FCN-8s: FCN-16s's fusion, x2 again plus pool3's scores, then x8."""
    return FCN(num_classes=num_classes, skips=2, width=width, fc_channels=fc_channels)


def load_vgg16_weights(model: FCN, vgg_state_dict: dict[str, torch.Tensor]) -> FCN:
    """Initialise ``model`` from a (torchvision) VGG16 state dict: the convolutions as they are,
    the first two fully connected layers reshaped into ``fc6`` (4096, 512, 7, 7) and ``fc7``."""
    if model.fc6.weight.shape != (4096, 512, 7, 7):
        raise ValueError("VGG16's weights need the published FCN (width 64, fc_channels 4096); "
                         f"this one has fc6 of shape {tuple(model.fc6.weight.shape)}")
    features = {k[len("features."):]: v for k, v in vgg_state_dict.items()
                if k.startswith("features.")}
    model.features.load_state_dict(features)
    with torch.no_grad():
        model.fc6.weight.copy_(vgg_state_dict["classifier.0.weight"].reshape(4096, 512, 7, 7))
        model.fc6.bias.copy_(vgg_state_dict["classifier.0.bias"])
        model.fc7.weight.copy_(vgg_state_dict["classifier.3.weight"].reshape(4096, 4096, 1, 1))
        model.fc7.bias.copy_(vgg_state_dict["classifier.3.bias"])
    return model
