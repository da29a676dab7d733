"""Mask2Former (Cheng et al., CVPR 2022): masked-attention mask transformer for
universal segmentation.

One concept per module:

- its backbone (:func:`segedu.nn.resnet_backbone.build_backbone`, a ResNet giving
  ``res2 .. res5`` at strides 4, 8, 16, 32), DETR's sine positional code
  (:mod:`segedu.nn.position_encoding`) and the decoder's attention and FFN layers
  (:mod:`segedu.nn.transformer_layers`) are shared parts of :mod:`segedu.nn`;
- :mod:`.ms_deform_attn`: multi-scale deformable attention (``grid_sample``), Deformable DETR;
- :mod:`.deformable_encoder`: the deformable transformer encoder over strides 8, 16, 32;
- :mod:`.pixel_decoder`: ``MSDeformAttnPixelDecoder``: multi-scale maps and the stride-4
  mask features;
- :mod:`.transformer_decoder`: the masked-attention decoder and its prediction heads (its
  attention mask, from the previous prediction, is the family's shared
  :mod:`segedu.models.universal.set_prediction.masked_attention`);
- :mod:`.convert`: official (detectron2) checkpoints -> segedu's state dict;
- :mod:`.model`: :class:`Mask2Former` and the registered builders ``mask2former`` (slim) and
  ``mask2former_resnet50`` (the paper's R50);
- :mod:`.point_sampling`: reading masks at points, and the importance sampling of uncertain points;
- :mod:`.matcher`: Hungarian matching of queries to segments on shared random points;
- :mod:`.criterion`: the set loss (class CE with a weak no-object class, mask BCE and Dice on
  sampled points) on every decoder layer;
- :mod:`.inference`: semantic, instance and panoptic inference from the queries (the
  methods of :class:`Mask2Former`, from :class:`.inference.QueryInference`);
- :mod:`.query_training`: ``targets``, ``loss`` and ``total_loss`` of a model trained with the
  set criterion (Mask2Former's and EoMT's, from :class:`.query_training.QueryTraining`).
"""

from . import (
    convert,
    criterion,
    deformable_encoder,
    inference,
    matcher,
    model,
    ms_deform_attn,
    pixel_decoder,
    point_sampling,
    query_training,
    transformer_decoder,
)
from .convert import convert_official_state_dict
from .criterion import MaskSetCriterion
from .deformable_encoder import MSDeformAttnEncoderLayer, MSDeformAttnTransformerEncoderOnly
from .inference import QueryInference
from .matcher import MaskHungarianMatcher
from .model import Mask2Former, Mask2FormerHead, mask2former, mask2former_resnet50
from .ms_deform_attn import MSDeformAttn, multi_scale_deformable_attention
from .pixel_decoder import MSDeformAttnPixelDecoder
from .point_sampling import point_sample, sample_uncertain_points
from .query_training import QueryTraining
from .transformer_decoder import MultiScaleMaskedTransformerDecoder

__all__ = [
    "convert", "deformable_encoder", "model", "ms_deform_attn",
    "pixel_decoder",
    "transformer_decoder", "convert_official_state_dict",
    "MSDeformAttnEncoderLayer", "MSDeformAttnTransformerEncoderOnly",
    "Mask2Former", "Mask2FormerHead",
    "mask2former",
    "mask2former_resnet50", "MSDeformAttn", "multi_scale_deformable_attention",
    "MSDeformAttnPixelDecoder",
    "MultiScaleMaskedTransformerDecoder",
    "criterion", "inference", "matcher", "point_sampling", "MaskSetCriterion",
    "MaskHungarianMatcher",
    "QueryInference", "QueryTraining", "query_training", "point_sample",
    "sample_uncertain_points",
]
