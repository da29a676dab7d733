"""Building blocks of segmentation networks, and their arithmetic.

- :mod:`~segedu.nn.arithmetic`: output sizes of convolutions, transposed convolutions and pooling;
- :mod:`~segedu.nn.receptive_field`: receptive field and effective stride of a stack of layers;
- :mod:`~segedu.nn.unpooling`: max unpooling with indices (SegNet) and average unpooling;
- :mod:`~segedu.nn.transposed_conv`: the transposed convolution as a scatter-add of its kernel;
- :mod:`~segedu.nn.resnet` and :mod:`~segedu.nn.vgg`: the ResNet-18/34/50 and VGG16 backbones,
  state-dict compatible with torchvision's;
- :mod:`~segedu.nn.mlp`: the ``MLP`` of DETR-style heads (Mask2Former's mask embedding, SAM's
  hypernetworks), state-dict compatible with theirs;
- :mod:`~segedu.nn.fpn`: the feature pyramid network on a ResNet (Faster / Mask R-CNN, YOLACT,
  Panoptic FPN), state-dict compatible with torchvision's;
- :mod:`~segedu.nn.resnet_backbone`: the ResNet of Mask2Former and DETR, giving ``res2 .. res5``;
- :mod:`~segedu.nn.position_encoding`: DETR's sine code of pixel positions (DETR, Mask2Former,
  SAM 2);
- :mod:`~segedu.nn.transformer_layers`: the post-norm self-attention, cross-attention and FFN
  layers of DETR-style decoders (DETR, Mask2Former, CLIPSeg);
- :mod:`~segedu.nn.layer_norm_2d`: the channels-first LayerNorm of SAM, SAM 2 and EoMT;
- :mod:`~segedu.nn.mlp_block`: SAM's two-layer ``MLPBlock`` (SAM, CLIPSeg);
- :mod:`~segedu.nn.quick_gelu`: CLIP's ``QuickGELU`` activation (CLIPSeg, OneFormer's text
  encoder);
- :mod:`~segedu.nn.vit`: the Vision Transformer (patch embedding, attention, blocks, position
  embeddings interpolated to any size), state-dict compatible with timm's and DINO's.
- :mod:`~segedu.nn.swin`: the Swin Transformer (windows, shifted windows and their mask, the
  relative position bias, patch merging), torchvision's ``swin_t`` given its renamed weights;
- :mod:`~segedu.nn.convnext`: ConvNeXt (the block with layer scale, the patchify stem and
  downsampling layers), torchvision's ``convnext_tiny`` given its renamed weights; its block is
  also SAM 2's memory fuser;
- :mod:`~segedu.nn.backbone`: :class:`Backbone`, the contract of a classifier whose
  ``forward_stages`` gives the four maps at strides 4 to 32 that segmentation heads tap;
- :mod:`~segedu.nn.pairs`: :func:`distinct_pairs`, the distinct (category, instance) pairs by
  which panoptic targets and panoptic quality number their segments.
"""

from .arithmetic import conv_output_size, conv_transpose_output_size, pool_output_size
from .backbone import Backbone
from .convnext import ConvNeXt, convnext_tiny
from .layer_norm_2d import LayerNorm2d
from .mlp import MLP
from .mlp_block import MLPBlock
from .pairs import distinct_pairs
from .position_encoding import PositionEmbeddingSine
from .quick_gelu import QuickGELU
from .receptive_field import ReceptiveField, receptive_field
from .resnet import ResNet, resnet18, resnet34, resnet50
from .resnet_backbone import build_backbone
from .swin import SwinTransformer, swin_t
from .transformer_layers import (
    CrossAttentionLayer,
    DetrDecoderLayer,
    FFNLayer,
    SelfAttentionLayer,
)
from .transposed_conv import conv_transpose2d_scatter
from .unpooling import avg_unpool2d, max_unpool2d
from .vgg import VGG, vgg16
from .vit import VisionTransformer

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "pool_output_size",
    "ReceptiveField",
    "receptive_field",
    "conv_transpose2d_scatter",
    "max_unpool2d",
    "avg_unpool2d",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "VGG",
    "vgg16",
    "VisionTransformer",
    "SwinTransformer",
    "swin_t",
    "ConvNeXt",
    "convnext_tiny",
    "Backbone",
    "MLP",
    "MLPBlock",
    "LayerNorm2d",
    "PositionEmbeddingSine",
    "QuickGELU",
    "SelfAttentionLayer",
    "CrossAttentionLayer",
    "FFNLayer",
    "DetrDecoderLayer",
    "build_backbone",
    "distinct_pairs",
]
