"""The Swin Transformer (Liu et al., ICCV 2021), one concept per module.

- :mod:`.patch_embed`: :class:`SwinPatchEmbed`, 4 x 4 patches -> a grid of tokens;
- :mod:`.windows`: :func:`window_partition` and :func:`window_reverse`;
- :mod:`.relative_position`: :func:`relative_position_index`, the bias table's index;
- :mod:`.shift_mask`: :func:`shifted_window_mask`, the mask of the rolled windows;
- :mod:`.window_attention`: :class:`WindowAttention`, W-MSA and SW-MSA;
- :mod:`.block`: :class:`SwinBlock`, attention and MLP, pre-norm and residual;
- :mod:`.patch_merging`: :class:`PatchMerging`, 2 x 2 neighbours -> one token, channels x 2;
- :mod:`.stage`: :class:`SwinStage`, merging and blocks alternating the shift;
- :mod:`.swin_transformer`: :class:`SwinTransformer`, the classifier and backbone; ``swin_t``;
- :mod:`.convert`: :func:`convert_torchvision_swin`, torchvision's names -> segedu's.
"""

from .block import SwinBlock
from .convert import convert_torchvision_swin
from .patch_embed import SwinPatchEmbed
from .patch_merging import PatchMerging
from .relative_position import relative_position_index
from .shift_mask import shifted_window_mask
from .stage import SwinStage
from .swin_transformer import SwinTransformer, swin_t
from .window_attention import WindowAttention
from .windows import window_partition, window_reverse

__all__ = [
    "SwinPatchEmbed",
    "window_partition",
    "window_reverse",
    "relative_position_index",
    "shifted_window_mask",
    "WindowAttention",
    "SwinBlock",
    "PatchMerging",
    "SwinStage",
    "SwinTransformer",
    "swin_t",
    "convert_torchvision_swin",
]
