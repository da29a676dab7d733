"""Registered SAM builders: ``sam_vit_b``, ``sam_vit_l``, ``sam_vit_h`` (the paper's three models,
official checkpoints) and ``sam_tiny`` (a small SAM for segedu's zoo, trained on 128 px synthetic
scenes on a CPU).

The official configurations are those of segment-anything's ``build_sam.py``: 1024 x 1024 input,
16 x 16 patches (a 64 x 64 token grid), windows of 14 with 4 global blocks, LayerNorm eps 1e-6,
relative positions; a 256-wide prompt embedding; a two-way transformer of depth 2, 8 heads, MLP
2048; 3 multimask outputs and a 3-layer IoU head. Their state-dict keys are segment-anything's, so
``get_model("sam_vit_b", weights="official")`` loads the original ``.pth`` file directly.

Every builder takes keyword arguments that override its configuration (see :func:`build_sam`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import nn

from ...registry import register_model
from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import PIXEL_MEAN, PIXEL_STD, Sam
from .two_way_transformer import TwoWayTransformer

__all__ = ["build_sam", "sam_vit_b", "sam_vit_l", "sam_vit_h", "sam_tiny", "OFFICIAL_URLS"]

OFFICIAL_URLS = {
    "sam_vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    "sam_vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "sam_vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
}


def build_sam(
    *,
    encoder_embed_dim: int,
    encoder_depth: int,
    encoder_num_heads: int,
    encoder_global_attn_indexes: Sequence[int],
    image_size: int = 1024,
    patch_size: int = 16,
    window_size: int = 14,
    mlp_ratio: float = 4.0,
    prompt_embed_dim: int = 256,
    mask_in_chans: int = 16,
    decoder_depth: int = 2,
    decoder_num_heads: int = 8,
    decoder_mlp_dim: int = 2048,
    num_multimask_outputs: int = 3,
    iou_head_depth: int = 3,
    iou_head_hidden_dim: int = 256,
) -> Sam:
    """A :class:`~.sam.Sam` of the given size (defaults: the official models' shared settings).

    ``encoder_*``: the ViT (width, blocks, heads, global blocks); ``image_size``, ``patch_size``
    and ``window_size``: input side, patch side, window side (in tokens); ``prompt_embed_dim``:
    the width of the image embedding and of every prompt/decoder token; ``decoder_*``: the
    two-way transformer. Returned in eval mode, as segment-anything's builders (SAM has no
    dropout or batch norm, so the mode changes nothing).
    """
    embedding_size = image_size // patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=image_size,
            patch_size=patch_size,
            embed_dim=encoder_embed_dim,
            depth=encoder_depth,
            num_heads=encoder_num_heads,
            mlp_ratio=mlp_ratio,
            out_chans=prompt_embed_dim,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=window_size,
            global_attn_indexes=tuple(encoder_global_attn_indexes),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_embed_dim,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(image_size, image_size),
            mask_in_chans=mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=prompt_embed_dim,
            transformer=TwoWayTransformer(
                depth=decoder_depth,
                embedding_dim=prompt_embed_dim,
                num_heads=decoder_num_heads,
                mlp_dim=decoder_mlp_dim,
            ),
            num_multimask_outputs=num_multimask_outputs,
            iou_head_depth=iou_head_depth,
            iou_head_hidden_dim=iou_head_hidden_dim,
        ),
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
    )
    return sam.eval()


@register_model("sam_vit_b", official=lambda: OFFICIAL_URLS["sam_vit_b"])
def sam_vit_b(**kwargs) -> Sam:
    """SAM with a ViT-B/16 encoder (768 wide, 12 blocks, 12 heads, global blocks 2, 5, 8, 11).

    93,735,472 parameters (image encoder 89,670,912; prompt encoder 6,220; mask decoder
    4,058,340), as segment-anything's ``sam_model_registry["vit_b"]``.
    """
    config = dict(
        encoder_embed_dim=768,
        encoder_depth=12,
        encoder_num_heads=12,
        encoder_global_attn_indexes=(2, 5, 8, 11),
    )
    return build_sam(**{**config, **kwargs})


@register_model("sam_vit_l", official=lambda: OFFICIAL_URLS["sam_vit_l"])
def sam_vit_l(**kwargs) -> Sam:
    """SAM with a ViT-L/16 encoder (1024 wide, 24 blocks, 16 heads, global blocks 5, 11, 17, 23).

    312,342,832 parameters, as segment-anything's ``sam_model_registry["vit_l"]``.
    """
    config = dict(
        encoder_embed_dim=1024,
        encoder_depth=24,
        encoder_num_heads=16,
        encoder_global_attn_indexes=(5, 11, 17, 23),
    )
    return build_sam(**{**config, **kwargs})


@register_model("sam_vit_h", official=lambda: OFFICIAL_URLS["sam_vit_h"])
def sam_vit_h(**kwargs) -> Sam:
    """SAM with a ViT-H/16 encoder (1280 wide, 32 blocks, 16 heads, global blocks 7, 15, 23, 31).

    641,090,608 parameters, as segment-anything's ``sam_model_registry["vit_h"]``.
    """
    config = dict(
        encoder_embed_dim=1280,
        encoder_depth=32,
        encoder_num_heads=16,
        encoder_global_attn_indexes=(7, 15, 23, 31),
    )
    return build_sam(**{**config, **kwargs})


@register_model("sam_tiny")
def sam_tiny(**kwargs) -> Sam:
    """A small SAM for 128 x 128 synthetic scenes, trainable on a CPU (segedu's zoo).

    Defaults: 128 px input, 8 x 8 patches (a 16 x 16 token grid, so 64 x 64 low-resolution
    masks: 2 px per mask pixel, where the official models have 4), a ViT of width 96, depth 4,
    3 heads, windows of 8 tokens with global blocks 1 and 3; prompt/decoder width 96, decoder
    depth 2 with 4 heads and MLP 384, IoU head 96 wide. (A 16 px patch would leave only 8 x 8
    tokens for objects of a few pixels; pass ``patch_size=16`` for the cheaper variant.)
    Every setting of :func:`build_sam` can be overridden by keyword.

    1,018,532 parameters with the defaults (image encoder 588,896; prompt encoder 2,540; mask
    decoder 427,096).
    """
    config = dict(
        image_size=128,
        patch_size=8,
        window_size=8,
        encoder_embed_dim=96,
        encoder_depth=4,
        encoder_num_heads=3,
        encoder_global_attn_indexes=(1, 3),
        prompt_embed_dim=96,
        mask_in_chans=16,
        decoder_depth=2,
        decoder_num_heads=4,
        decoder_mlp_dim=384,
        iou_head_hidden_dim=96,
    )
    return build_sam(**{**config, **kwargs})
