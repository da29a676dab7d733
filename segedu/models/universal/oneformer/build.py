"""The registered OneFormers: ``oneformer`` (slim, for segedu's zoo), ``oneformer_swin_tiny``
(``transformers``' default configuration, the ADE20K Swin-T checkpoint) and
``oneformer_swin_large`` (the paper's Swin-L on COCO)."""

from __future__ import annotations

from ...registry import register_model
from .convert import convert_transformers_state_dict
from .model import OneFormer

__all__ = ["oneformer", "oneformer_swin_tiny", "oneformer_swin_large", "OFFICIAL_URLS",
           "SWIN_TINY", "SWIN_LARGE"]

# the checkpoint transformers' OneFormerConfig docstring names (a pytorch_model.bin)
OFFICIAL_URLS = {
    "oneformer_swin_tiny": "https://huggingface.co/shi-labs/oneformer_ade20k_swin_tiny/resolve/"
                           "main/pytorch_model.bin",
}
SWIN_TINY = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7)
SWIN_LARGE = dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), window_size=12)
# the text mapper of the published models (width 256, 6 layers, 16 context entries)
TEXT_MAPPER = dict(width=256, context_length=77, num_layers=6, proj_layers=2, num_ctx=16)


@register_model("oneformer")
def oneformer(**kwargs) -> OneFormer:
    """Slim OneFormer for segedu's zoo (128 px synthetic scenes, trained on a CPU or a small GPU).

    Swin of width 32, depths (1, 1, 2, 1), heads (1, 2, 4, 8), window 4 (the grids of 128 px
    images, 32, 16, 8 and 4, are multiples of it); pixel decoder and queries of width 64, 4 heads,
    3 deformable encoder layers (FFN 256), 6 masked-attention layers (FFN 256), 50 queries; text
    mapper of width 64, 2 layers, 16-token texts, 8 context entries; ``num_classes=6`` (sky,
    grass, water, circle, rectangle, triangle). 5,488,155 parameters: backbone 1,426,339, pixel
    decoder 225,840, task MLP 9,152, transformer decoder 554,759, text mapper 3,272,064 (its CLIP
    token table, 49,408 x 64, used in training only, holds most of them), temperature 1. Every
    argument of :class:`.OneFormer` can be overridden.
    """
    config = dict(num_classes=6, backbone=dict(embed_dim=32, depths=(1, 1, 2, 1),
                                               num_heads=(1, 2, 4, 8), window_size=4,
                                               drop_path_rate=0.1),
                  conv_dim=64, hidden_dim=64, num_queries=50, num_heads=4, encoder_layers=3,
                  encoder_ffn_dim=256, decoder_layers=6, decoder_ffn_dim=256,
                  text_mapper=dict(width=64, context_length=16, num_layers=2, num_ctx=8))
    return OneFormer(**{**config, **kwargs})


@register_model("oneformer_swin_tiny", official=lambda: OFFICIAL_URLS["oneformer_swin_tiny"],
                convert=convert_transformers_state_dict)
def oneformer_swin_tiny(**kwargs) -> OneFormer:
    """OneFormer Swin-T on ADE20K (``shi-labs/oneformer_ade20k_swin_tiny``, ``transformers``'
    default ``OneFormerConfig``): 150 classes, 150 queries, hidden 256, 8 heads, 6 deformable
    encoder layers (FFN 1024), 9 masked-attention layers (FFN 2048), a 2-layer query transformer,
    no text mapper (inference; ``text_mapper=TEXT_MAPPER`` adds the training one). 50,736,402
    parameters (backbone 27,520,698, pixel decoder 5,421,504, task MLP 85,760, transformer
    decoder 17,708,439, temperature 1): ``transformers``' count less the Swin's unused final
    LayerNorm (counted in the tests). Every argument of :class:`.OneFormer` can be overridden."""
    config = dict(num_classes=150, backbone=dict(SWIN_TINY), num_queries=150)
    return OneFormer(**{**config, **kwargs})


@register_model("oneformer_swin_large")
def oneformer_swin_large(**kwargs) -> OneFormer:
    """The paper's OneFormer Swin-L on COCO (Jain et al., CVPR 2023, Table 1): Swin-L (192,
    (2, 2, 18, 2), window 12), 133 classes, 150 queries, the decoders of
    :func:`oneformer_swin_tiny`, with the training text mapper. 236,324,091 parameters (backbone
    195,201,204, pixel decoder 5,790,144, task MLP 85,760, transformer decoder 17,704,070, text
    mapper 17,542,912, temperature 1); the inference network, without the text mapper,
    218,781,179: the "219M" of the authors' model table (SHI-Labs/OneFormer's README; their
    ``configs/coco/swin/oneformer_swin_large_bs16_100ep.yaml`` gives these sizes). No checkpoint
    is registered: ``transformers`` names only the Swin-T one. Every argument of
    :class:`.OneFormer` can be overridden."""
    config = dict(num_classes=133, backbone=dict(SWIN_LARGE), num_queries=150,
                  text_mapper=dict(TEXT_MAPPER))
    return OneFormer(**{**config, **kwargs})
