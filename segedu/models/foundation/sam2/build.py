"""Registered SAM 2 builders: ``sam2_hiera_tiny`` (SAM 2.1 Hiera-T, the official checkpoint
through ``transformers``' port) and ``sam2_slim`` (a small SAM 2 for 128 px synthetic video,
trainable on a CPU).

The configuration is one dataclass, :class:`Sam2Config` (nanoGPT's style); its defaults are SAM
2.1 Hiera-T's (facebookresearch/sam2's ``sam2.1_hiera_t.yaml``, ``transformers``'
``Sam2VideoConfig``): 1024 px input, Hiera with 96 channels, stages (1, 2, 7, 2), windows (8, 4,
14, 7), global blocks 5, 7, 9; a 256-wide FPN; 4 memory-attention layers; 64-wide memories, 7
memory slots, pointers from 16 frames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ...registry import register_model
from ..sam.two_way_transformer import TwoWayTransformer
from .convert import convert_transformers_state_dict
from .hiera import Hiera
from .image_encoder import ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .neck import FpnNeck
from .prompt_encoder import Sam2PromptEncoder
from .sam2 import Sam2

__all__ = ["Sam2Config", "build_sam2", "sam2_hiera_tiny", "sam2_slim", "OFFICIAL_URLS"]

OFFICIAL_URLS = {
    # transformers' port of SAM 2.1 Hiera-T (the repo named in its Sam2Config / Sam2VideoConfig)
    "sam2_hiera_tiny":
        "https://huggingface.co/facebook/sam2.1-hiera-tiny/resolve/main/model.safetensors",
}


@dataclass(frozen=True)
class Sam2Config:
    """Every size of a SAM 2 (defaults: SAM 2.1 Hiera-T)."""

    image_size: int = 1024
    # Hiera trunk
    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (1, 2, 7, 2)
    window_sizes: tuple[int, ...] = (8, 4, 14, 7)
    global_att_blocks: tuple[int, ...] = (5, 7, 9)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7)
    # FPN width = prompt and decoder width C
    d_model: int = 256
    # SAM head
    mask_in_chans: int = 16
    decoder_num_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256
    # memory
    mem_dim: int = 64
    num_maskmem: int = 7
    memory_attention_layers: int = 4
    memory_attention_mlp_dim: int = 2048
    fuser_hidden_dim: int = 1024
    max_obj_ptrs_in_encoder: int = 16
    dropout: float = 0.1


def build_sam2(config: Sam2Config | None = None, **overrides) -> Sam2:
    """A :class:`~.sam2.Sam2` of ``config`` (default SAM 2.1 Hiera-T) with ``overrides`` of its
    fields, in eval mode."""
    config = replace(config or Sam2Config(), **overrides)
    c = config.d_model
    embedding = config.image_size // 16
    trunk = Hiera(embed_dim=config.embed_dim, num_heads=config.num_heads, stages=config.stages,
                  window_sizes=config.window_sizes, global_att_blocks=config.global_att_blocks,
                  window_pos_embed_bkg_spatial_size=config.window_pos_embed_bkg_spatial_size)
    model = Sam2(
        image_encoder=ImageEncoder(
            trunk=trunk,
            neck=FpnNeck(d_model=c, backbone_channel_list=trunk.channel_list)),
        prompt_encoder=Sam2PromptEncoder(
            embed_dim=c, image_embedding_size=(embedding, embedding),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=config.mask_in_chans),
        mask_decoder=Sam2MaskDecoder(
            transformer_dim=c,
            transformer=TwoWayTransformer(depth=2, embedding_dim=c,
                                          num_heads=config.decoder_num_heads,
                                          mlp_dim=config.decoder_mlp_dim),
            iou_head_hidden_dim=config.iou_head_hidden_dim),
        memory_attention=MemoryAttention(
            d_model=c, mem_dim=config.mem_dim, num_layers=config.memory_attention_layers,
            dim_feedforward=config.memory_attention_mlp_dim, dropout=config.dropout),
        memory_encoder=MemoryEncoder(in_dim=c, out_dim=config.mem_dim,
                                     fuser_hidden_dim=config.fuser_hidden_dim),
        image_size=config.image_size,
        num_maskmem=config.num_maskmem,
        max_obj_ptrs_in_encoder=config.max_obj_ptrs_in_encoder,
    )
    model.config = config
    return model.eval()


def _config_kwargs(kwargs: dict) -> dict:
    names = {f.name for f in fields(Sam2Config)}
    unknown = set(kwargs) - names
    if unknown:
        raise TypeError(f"unknown SAM 2 option(s) {sorted(unknown)}; options: {sorted(names)}")
    return kwargs


@register_model("sam2_hiera_tiny", official=lambda: OFFICIAL_URLS["sam2_hiera_tiny"],
                convert=convert_transformers_state_dict)
def sam2_hiera_tiny(**kwargs) -> Sam2:
    """SAM 2.1 Hiera-T (38.9 M parameters in the paper's table; the official weights through
    ``transformers``' ``facebook/sam2.1-hiera-tiny``)."""
    return build_sam2(Sam2Config(), **_config_kwargs(kwargs))


SLIM = Sam2Config(image_size=128, embed_dim=16, num_heads=1, stages=(1, 1, 2, 1),
                  window_sizes=(4, 4, 4, 2), global_att_blocks=(3,),
                  window_pos_embed_bkg_spatial_size=(4, 4), d_model=64, decoder_num_heads=2,
                  decoder_mlp_dim=128, iou_head_hidden_dim=64, mem_dim=32, num_maskmem=4,
                  memory_attention_layers=2, memory_attention_mlp_dim=128, fuser_hidden_dim=64,
                  max_obj_ptrs_in_encoder=8)


@register_model("sam2_slim")
def sam2_slim(**kwargs) -> Sam2:
    """A slim SAM 2 for 128 x 128 synthetic video, trainable on a CPU: Hiera 16 wide with stages
    (1, 1, 2, 1), a 64-wide FPN and decoder, 2 memory-attention layers, 32-wide memories, 4
    memory slots."""
    return build_sam2(SLIM, **_config_kwargs(kwargs))
