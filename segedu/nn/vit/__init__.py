"""The Vision Transformer (Dosovitskiy et al., ICLR 2021), one concept per module.

- :mod:`.patch_embed`: :class:`PatchEmbed`, patches -> tokens by a convolution with stride = patch;
- :mod:`.attention`: :class:`Attention`, multi-head self-attention written out (returns the maps);
- :mod:`.mlp`: :class:`Mlp`, the per-token two-layer MLP;
- :mod:`.drop_path`: :class:`DropPath`, stochastic depth;
- :mod:`.block`: :class:`Block`, the pre-norm transformer block;
- :mod:`.pos_embed`: :func:`interpolate_pos_embed`, positional embeddings for any image size;
- :mod:`.vision_transformer`: :class:`VisionTransformer`, the backbone (timm/DINO state dicts).
"""

from .attention import Attention
from .block import Block
from .drop_path import DropPath
from .mlp import Mlp
from .patch_embed import PatchEmbed, check_images
from .pos_embed import POS_EMBED_MODES, interpolate_pos_embed
from .vision_transformer import VisionTransformer

__all__ = [
    "Attention",
    "Block",
    "DropPath",
    "Mlp",
    "PatchEmbed",
    "check_images",
    "POS_EMBED_MODES",
    "interpolate_pos_embed",
    "VisionTransformer",
]
