"""OneFormer (Jain, Li, Chiu, Hassani, Orlov & Shi, CVPR 2023): one model, trained once, for
semantic, instance and panoptic segmentation, told the task by a text prompt.

One concept per module:

- :mod:`.tokens`: texts -> CLIP token ids (the words OneFormer's prompts and segedu's scenes use);
- :mod:`.task_token`: "the task is {task}" -> the task token ``Q_task`` (the task MLP);
- :mod:`.text_encoder`: the CLIP-style text transformer;
- :mod:`.text_mapper`: an image's training-time text list -> text queries ``Q_text``;
- :mod:`.contrastive_loss`: the query-text contrastive loss;
- :mod:`.query_transformer`: the queries initialised from the task token;
- :mod:`.transformer_decoder`: Mask2Former's masked-attention decoder on those queries;
- :mod:`.swin_backbone`: Swin with a LayerNorm on each stage's output;
- :mod:`.model`: :class:`OneFormer` (pixel decoder, set criterion and read-outs are Mask2Former's);
- :mod:`.convert`: ``transformers``' state dict -> segedu's;
- :mod:`.build`: the registered ``oneformer``, ``oneformer_swin_tiny``, ``oneformer_swin_large``.
"""

from . import (
    build,
    contrastive_loss,
    convert,
    model,
    query_transformer,
    swin_backbone,
    task_token,
    text_encoder,
    text_mapper,
    tokens,
    transformer_decoder,
)
from .build import oneformer, oneformer_swin_large, oneformer_swin_tiny
from .contrastive_loss import QueryTextContrastiveLoss
from .convert import convert_transformers_state_dict
from .model import OneFormer
from .query_transformer import QueryTransformer
from .swin_backbone import SwinBackbone
from .task_token import TaskEncoder, task_prompt, task_token_ids
from .text_encoder import TextEncoder
from .text_mapper import TextMapper, text_list
from .tokens import clip_token_ids
from .transformer_decoder import OneFormerTransformerDecoder

__all__ = [
    "build", "contrastive_loss", "convert", "model", "query_transformer", "swin_backbone",
    "task_token", "text_encoder", "text_mapper", "tokens", "transformer_decoder",
    "oneformer", "oneformer_swin_large", "oneformer_swin_tiny", "QueryTextContrastiveLoss",
    "convert_transformers_state_dict", "OneFormer", "QueryTransformer", "SwinBackbone",
    "TaskEncoder", "task_prompt", "task_token_ids", "TextEncoder", "TextMapper", "text_list",
    "clip_token_ids", "OneFormerTransformerDecoder",
]
