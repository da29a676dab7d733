"""ResNet-18/34/50 (He et al., CVPR 2016), state-dict compatible with torchvision's.

A ResNet is a stem (7x7 conv with stride 2, max pooling with stride 2: 1/4 resolution) and four
stages ``layer1..layer4`` of residual blocks, each stage but the first halving the resolution, so
the last feature map is 1/32 of the input. A residual block adds its input to what it computes,
``y = relu(F(x) + shortcut(x))``; the shortcut is the identity, or a strided 1x1 convolution when
the shape changes.

For segmentation, 1/32 is too coarse. DeepLab replaces the stride of the last stages by
**dilation** (``replace_stride_with_dilation=(False, True, True)``: output stride 8): the 3x3
convolutions then sample their inputs ``d`` pixels apart, keeping the receptive field that the
stride would have given while the feature map keeps its size.

Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample.0``, ...)
so that a torchvision state dict loads as it is; the bottleneck puts its stride on the 3x3
convolution, like torchvision ("ResNet v1.5"). Unlike torchvision, the basic block (ResNet-18/34)
accepts dilation too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "RESNETS",
           "resnet_by_name"]


def conv3x3(in_channels: int, out_channels: int, *, stride: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the size at stride 1 (padding = dilation), no bias
    (a BN follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation,
                     dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus the shortcut: (N, C_in, H, W) -> (N, C, H/s, W/s)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, dilation: int = 1,
                 first_dilation: int | None = None, downsample: nn.Module | None = None,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride=stride,
                             dilation=first_dilation or dilation)
        self.bn1 = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels, dilation=dilation)
        self.bn2 = norm_layer(channels)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, dilated), 1x1 expand x4, plus the shortcut: ->
    (N, 4C, H/s, W/s)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, dilation: int = 1,
                 first_dilation: int | None = None, downsample: nn.Module | None = None,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = norm_layer(channels)
        self.conv2 = conv3x3(channels, channels, stride=stride, dilation=first_dilation or dilation)
        self.bn2 = norm_layer(channels)
        self.conv3 = nn.Conv2d(channels, channels * self.expansion, 1, bias=False)
        self.bn3 = norm_layer(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))  # (N, C, H, W)
        y = self.relu(self.bn2(self.conv2(y)))  # (N, C, H/s, W/s)
        y = self.bn3(self.conv3(y))  # (N, 4C, H/s, W/s)
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    """Stem and four stages; ``forward_stages`` gives every stage's output, ``forward`` the logits.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: outputs of the classifier (``include_top=True``).
        replace_stride_with_dilation: for stages 2, 3, 4: dilate instead of striding.
        include_top: keep the global pooling and the fully connected classifier.
        width: channels of the stem and of the first stage; the stages have ``width * (1, 2, 4,
            8)`` (times 4 for bottlenecks). 64 is the published network (and torchvision's
            weights); a smaller width gives the slim networks that train in minutes on a CPU
            (about ``(width / 64) ** 2`` of the parameters).
        norm_layer: the normalisation after each convolution, called with the channel count:
            ``nn.BatchNorm2d`` (default) or, for a pretrained detection backbone,
            :class:`~segedu.nn.frozen_batch_norm.FrozenBatchNorm2d`.
    """

    def __init__(self, *, block: type[BasicBlock] | type[Bottleneck],
                 layers: tuple[int, int, int, int],
                 num_classes: int = 1000,
                 replace_stride_with_dilation: tuple[bool, bool, bool] = (False, False, False),
                 include_top: bool = True, width: int = 64,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation needs 3 booleans, got "
                             f"{replace_stride_with_dilation!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.in_channels, self.dilation, self.width = width, 1, width
        self.norm_layer = norm_layer
        # stem: (N, 3, H, W) -> (N, width, H/4, W/4)
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        # stages: 64, 128, 256, 512 channels at width 64 (x4 for bottlenecks), strides 1, 2, 2, 2
        self.layer1 = self._make_stage(block, width, layers[0])
        self.layer2 = self._make_stage(block, 2 * width, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_stage(block, 4 * width, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_stage(block, 8 * width, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.out_channels = 8 * width * block.expansion
        # channels of layer1..layer4's outputs, for the decoders that tap them
        self.stage_channels = tuple(c * width * block.expansion for c in (1, 2, 4, 8))
        if include_top:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.out_channels, num_classes)
        self.include_top = include_top
        # torchvision's initialisation: He (fan out) for convolutions, BN as the identity
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_stage(self, block, channels: int, blocks: int, *, stride: int = 1,
                    dilate: bool = False) -> nn.Sequential:
        first_dilation = self.dilation
        if dilate:  # keep the resolution: the stride becomes dilation for this stage and after
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.in_channels != channels * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, channels * block.expansion, 1, stride=stride,
                          bias=False),
                self.norm_layer(channels * block.expansion),
            )
        # the first block changes the shape (and still uses the previous dilation), the others
        # keep it
        stage = [block(self.in_channels, channels, stride=stride, dilation=self.dilation,
                       first_dilation=first_dilation, downsample=downsample,
                       norm_layer=self.norm_layer)]
        self.in_channels = channels * block.expansion
        stage += [block(self.in_channels, channels, dilation=self.dilation,
                        norm_layer=self.norm_layer)
                  for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> the outputs of layer1..layer4 (strides 4, 8, 16, 32 without dilation)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, width, H/4, W/4)
        stages = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            stages.append(x)
        return stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> class logits (N, num_classes), or the last features without the top."""
        x = self.forward_stages(x)[-1]  # (N, 8 * width * expansion, H/32, W/32)
        if not self.include_top:
            return x
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(**kwargs) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); 11,689,512 parameters with the 1000-class top."""
    return ResNet(block=BasicBlock, layers=(2, 2, 2, 2), **kwargs)


def resnet34(**kwargs) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3); 21,797,672 parameters with the 1000-class top."""
    return ResNet(block=BasicBlock, layers=(3, 4, 6, 3), **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50: bottlenecks (3, 4, 6, 3); 25,557,032 parameters with the 1000-class top."""
    return ResNet(block=Bottleneck, layers=(3, 4, 6, 3), **kwargs)


# the builders by name, for the segmentation models that take ``backbone="resnet18"`` etc.
RESNETS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}


def resnet_by_name(backbone: str, **kwargs) -> ResNet:
    """``RESNETS[backbone](**kwargs)``, with an error that lists the names when ``backbone``
    is unknown."""
    if backbone not in RESNETS:
        raise ValueError(f"backbone must be one of {sorted(RESNETS)}, got {backbone!r}")
    return RESNETS[backbone](**kwargs)
