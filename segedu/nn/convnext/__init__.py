"""ConvNeXt (Liu et al., CVPR 2022), one concept per module.

- :mod:`.block`: :class:`ConvNeXtBlock`, depthwise 7 x 7, LayerNorm, inverted MLP, layer scale;
- :mod:`.downsample`: :class:`PatchifyStem` and :class:`Downsample`, the strided layers;
- :mod:`.stage`: :class:`ConvNeXtStage`, a downsampling layer and its blocks;
- :mod:`.convnext`: :class:`ConvNeXt`, the classifier and backbone; ``convnext_tiny``;
- :mod:`.convert`: :func:`convert_torchvision_convnext`, torchvision's names -> segedu's.
"""

from .block import ConvNeXtBlock
from .convert import convert_torchvision_convnext
from .convnext import ConvNeXt, convnext_tiny
from .downsample import Downsample, PatchifyStem
from .stage import ConvNeXtStage

__all__ = [
    "ConvNeXtBlock",
    "PatchifyStem",
    "Downsample",
    "ConvNeXtStage",
    "ConvNeXt",
    "convnext_tiny",
    "convert_torchvision_convnext",
]
