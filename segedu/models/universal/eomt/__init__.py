"""EoMT (Kerssies et al., "Your ViT is Secretly an Image Segmentation Model", CVPR 2025): a plain
ViT whose last blocks also carry the queries, trained with masked attention that is annealed
away.

One concept per module:

- :mod:`.embeddings`: :class:`EomtEmbeddings`, patch, class and register tokens, positions for
  the patches only;
- :mod:`.scale_block`: :class:`ScaleBlock`, the up-scaling of the patch features;
- :mod:`.prediction_head`: :class:`EomtPredictionHead`, class and mask logits from the tokens;
- :mod:`.masked_attention`: :func:`query_attention_mask`, the queries' attention mask from their
  masks, with annealing's random release;
- :mod:`.annealing`: the mask probability of each masked block during training;
- :mod:`.model`: :class:`Eomt` and the registered builders ``eomt`` (slim, the zoo's) and
  ``eomt_large_640`` (the paper's COCO panoptic model);
- :mod:`.convert`: ``transformers``' ``EomtForUniversalSegmentation`` -> segedu.

The blocks are DINOv2's (:mod:`segedu.models.foundation.dinov2`); training, matching and
inference are Mask2Former's (:mod:`segedu.models.universal.mask2former`).
"""

from . import annealing, convert, embeddings, masked_attention, model, prediction_head, scale_block
from .annealing import annealed_probabilities, mask_probability, staggered_windows
from .convert import convert_transformers_state_dict
from .embeddings import EomtEmbeddings
from .masked_attention import query_attention_mask
from .model import OFFICIAL_URLS, Eomt, eomt, eomt_large_640
from .prediction_head import EomtPredictionHead
from .scale_block import ScaleBlock

__all__ = [
    "annealing", "convert", "embeddings", "masked_attention", "model", "prediction_head",
    "scale_block",
    "annealed_probabilities", "mask_probability", "staggered_windows",
    "convert_transformers_state_dict", "EomtEmbeddings", "query_attention_mask",
    "OFFICIAL_URLS", "Eomt", "eomt", "eomt_large_640", "EomtPredictionHead", "ScaleBlock",
]
