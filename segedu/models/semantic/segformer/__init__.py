"""SegFormer (Xie et al., NeurIPS 2021): a hierarchical transformer encoder without position
embeddings and an all-MLP decoder, for semantic segmentation.

One concept per module:

- :mod:`.config`: :class:`SegformerConfig`, every size of the network, and the published B0-B5;
- :mod:`.patch_embed`: :class:`OverlapPatchEmbed`, patches that overlap (kernel 7 stride 4, then
  kernel 3 stride 2);
- :mod:`.efficient_attention`: :class:`EfficientSelfAttention`, keys and values from a grid
  reduced ``R`` times by a strided convolution;
- :mod:`.mix_ffn`: :class:`MixFFN`, the MLP with a 3 x 3 depthwise convolution (the position
  information);
- :mod:`.block`: :class:`MixTransformerBlock`, the pre-norm block of those two;
- :mod:`.mix_transformer`: :class:`MixTransformer`, four stages at strides 4, 8, 16, 32;
- :mod:`.decoder`: :class:`AllMLPDecoder`, every stage projected, up-sampled, fused, classified;
- :mod:`.model`: :class:`Segformer` (the semantic family's contract) and the builders
  ``segformer_b0`` ... ``segformer_b5``, ``segformer_tiny``, ``segformer``;
- :mod:`.convert`: ``transformers``' ``SegformerForSemanticSegmentation`` weights -> segedu's.
"""

from .block import MixTransformerBlock
from .config import SEGFORMER_SIZES, SegformerConfig
from .convert import HUB_RENAMES, convert_transformers_state_dict
from .decoder import AllMLPDecoder
from .efficient_attention import EfficientSelfAttention
from .mix_ffn import MixFFN
from .mix_transformer import MixTransformer, MixTransformerStage
from .model import (
    OFFICIAL_REPOS,
    Segformer,
    segformer,
    segformer_b0,
    segformer_b1,
    segformer_b2,
    segformer_b3,
    segformer_b4,
    segformer_b5,
    segformer_tiny,
)
from .patch_embed import OverlapPatchEmbed

__all__ = [
    "SegformerConfig", "SEGFORMER_SIZES", "OverlapPatchEmbed", "EfficientSelfAttention", "MixFFN",
    "MixTransformerBlock", "MixTransformerStage", "MixTransformer", "AllMLPDecoder", "Segformer",
    "segformer", "segformer_b0", "segformer_b1", "segformer_b2", "segformer_b3", "segformer_b4",
    "segformer_b5", "segformer_tiny", "OFFICIAL_REPOS", "convert_transformers_state_dict",
    "HUB_RENAMES",
]
