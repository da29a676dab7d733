r"""EoMT (Kerssies, Cavagnero, Hermans, Norouzi, Averta, Leibe, Dubbelman & de Geus, "Your ViT is
Secretly an Image Segmentation Model", CVPR 2025): the network.

Mask2Former needs a backbone, a pixel decoder and a transformer decoder. EoMT drops the last two:
a plain ViT, pre-trained at scale (DINOv2), already computes what they compute. ``Q`` learned
query tokens are *concatenated to the patch tokens* before the ViT's last ``L2`` blocks, and those
blocks' self-attention lets queries read patches (cross-attention) and each other
(self-attention) at once::

    images (B, 3, S, S)
      -> embeddings            [cls; registers; patches + positions]   (B, 1 + R + N, D)
      -> blocks 0 .. L-L2-1    the ViT, unchanged                      (B, 1 + R + N, D)
      -> [queries; tokens]     Q learned queries in front              (B, Q + 1 + R + N, D)
      -> blocks L-L2 .. L-1    each after a prediction from its input:
                               masked attention (queries read their mask's patches only)
      -> norm, prediction head class logits (B, Q, K + 1), mask logits (B, Q, 4h, 4w)

Before each of the last ``L2`` blocks the prediction head (:mod:`.prediction_head`, shared by
all) reads the current tokens; its masks build the block's attention mask
(:mod:`.masked_attention`) and its predictions are supervised too (``aux_outputs``, as
Mask2Former's intermediate layers). **Mask annealing** (:mod:`.annealing`) drops the masks
progressively during training (``attn_mask_probs``, one probability per masked block, set by
:meth:`Eomt.anneal`), so that the trained network runs without them: in evaluation a block
whose probability is 0 needs no prediction, and inference is the plain ViT plus one head.

The blocks are DINOv2's (:class:`segedu.models.foundation.dinov2.Dinov2Block`: pre-norm,
LayerScale, GELU MLP or SwiGLU); ``transformers``' ``EomtLayer`` is the same block with separate
``q_proj``, ``k_proj``, ``v_proj`` (stacked into one ``qkv`` by :mod:`.convert`). The embeddings
differ from DINOv2's: positions for the patches only, never interpolated
(:mod:`.embeddings`).

Training and read-out are Mask2Former's: one target per panoptic segment, the set criterion on
every prediction (:class:`~segedu.models.universal.mask2former.QueryTraining`), and its
semantic, instance and panoptic inference
(:class:`~segedu.models.universal.mask2former.QueryInference`).

Relation to ``transformers``' ``EomtForUniversalSegmentation`` (proven equal in
``tests/models/universal/eomt/test_network.py``): it takes normalised pixels, segedu normalises
``[0, 1]`` images inside (ImageNet mean and std, as its image processor does); it returns the
last prediction only, segedu also the intermediate ones. In evaluation it skips a block's
prediction when its probability is 0 but keeps the attention mask of the last block that made
one; segedu runs such a block unmasked. The two agree whenever the blocks with probability 0
come first, which the staggered schedule guarantees (earlier blocks are released first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ...foundation.dinov2 import Dinov2Block
from ...registry import register_model
from ..base import UniversalModel, check_image_batch
from ..mask2former import QueryInference, QueryTraining
from .annealing import annealed_probabilities, staggered_windows
from .convert import convert_transformers_state_dict
from .embeddings import EomtEmbeddings
from .masked_attention import query_attention_mask
from .prediction_head import EomtPredictionHead

__all__ = ["Eomt", "eomt", "eomt_large_640", "OFFICIAL_URLS"]

# the published checkpoints, as transformers names them (EomtConfig's docstring)
OFFICIAL_URLS = {
    "eomt_large_640": "https://huggingface.co/tue-mps/coco_panoptic_eomt_large_640/resolve/main/"
                      "model.safetensors",
}


class Eomt(QueryInference, QueryTraining, UniversalModel):
    """EoMT: a ViT whose last ``num_blocks`` blocks also carry ``Q`` queries (module docstring).

    Args (keyword-only):
        num_classes: ``K`` classes without "no object".
        image_size: ``S``, the only accepted image side (positions are not interpolated).
        patch_size: ``p``.
        dim, depth, num_heads, mlp_ratio: the ViT's width ``D``, blocks ``L``, heads, MLP ratio.
        layerscale_init: initial LayerScale gain (1.0 in ``transformers``' config; DINOv2 trains
            from 1e-5).
        swiglu: SwiGLU feed-forward networks (ViT-g) instead of GELU MLPs.
        num_register_tokens: ``R`` (4 in the DINOv2-with-registers backbones).
        num_queries: ``Q``.
        num_blocks: ``L2``, the blocks that carry the queries (4 in the paper).
        num_upscale: up-scaling blocks of the mask features (default ``max(1, log2(p) - 2)``:
            stride 4 for ``p = 16``, as the authors' code).
        annealing: the annealing windows ``(starts, ends)`` of the ``L2`` masked blocks as
            fractions of training (default :func:`~.annealing.staggered_windows`).
        annealing_power: the polynomial power of the annealing (0.9).
        criterion: keyword arguments of the set criterion of ``loss`` (``num_points``, ...).
    """

    def __init__(self, *, num_classes: int, image_size: int = 640, patch_size: int = 16,
                 dim: int = 1024, depth: int = 24, num_heads: int = 16, mlp_ratio: float = 4.0,
                 layerscale_init: float = 1.0, swiglu: bool = False, num_register_tokens: int = 4,
                 num_queries: int = 200, num_blocks: int = 4, num_upscale: int | None = None,
                 annealing: tuple[Sequence[float], Sequence[float]] | None = None,
                 annealing_power: float = 0.9, criterion: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("num_classes (without 'no object') must be a positive int, got "
                             f"{num_classes!r}")
        if not 1 <= num_blocks <= depth:
            raise ValueError(f"num_blocks must be in 1 .. depth ({depth}), got {num_blocks}")
        if num_upscale is None:
            num_upscale = max(1, int(math.log2(patch_size)) - 2)
        starts, ends = staggered_windows(num_blocks) if annealing is None else annealing
        if len(starts) != num_blocks or len(ends) != num_blocks:
            raise ValueError(f"annealing needs {num_blocks} starts and ends, got {len(starts)} "
                             f"and {len(ends)}")
        self.num_classes, self.num_queries, self.num_blocks = num_classes, num_queries, num_blocks
        self.criterion_options = dict(criterion or {})
        self.annealing = (tuple(starts), tuple(ends))
        self.annealing_power = annealing_power
        self.embeddings = EomtEmbeddings(image_size=image_size, patch_size=patch_size, dim=dim,
                                         num_register_tokens=num_register_tokens)
        self.blocks = nn.ModuleList(
            Dinov2Block(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                        layerscale_init=layerscale_init, swiglu=swiglu) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.query = nn.Embedding(num_queries, dim)
        self.head = EomtPredictionHead(dim=dim, num_classes=num_classes, num_upscale=num_upscale)
        # P_i of each masked block (1: masked attention everywhere, before annealing starts)
        self.register_buffer("attn_mask_probs", torch.ones(num_blocks))
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def first_query_block(self) -> int:
        """The index of the first block that carries the queries, ``L - L2``."""
        return len(self.blocks) - self.num_blocks

    def predict(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """One prediction from tokens ``(B, Q + 1 + R + N, D)`` (normalised here):
        ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, H', W')}``."""
        mask_logits, class_logits = self.head(
            self.norm(tokens), num_queries=self.num_queries,
            num_prefix_tokens=self.embeddings.num_prefix_tokens,
            grid_size=self.embeddings.grid_size)
        return {"pred_logits": class_logits, "pred_masks": mask_logits}

    def forward(self, images: torch.Tensor) -> dict:
        """``images (B, 3, S, S)`` float in ``[0, 1]`` ->

        ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, H', W'), "aux_outputs": [...]}``
        (logits; the last class is "no object"; ``H' = 2^u S / p``), ``aux_outputs`` the
        predictions made before the masked blocks (all ``L2`` in training; in evaluation those
        of blocks with a mask probability above 0), in block order.
        """
        check_image_batch(images)
        # 1. normalise, embed: (B, 1 + R + N, D)
        x = self.embeddings((images - self.pixel_mean) / self.pixel_std)
        aux_outputs = []
        for i, block in enumerate(self.blocks):
            j = i - self.first_query_block  # index among the masked blocks
            # 2. the queries join the tokens before the first of the last L2 blocks
            if j == 0:
                x = torch.cat([self.query.weight.expand(x.shape[0], -1, -1), x], dim=1)
            # 3. a prediction from the block's input, and the attention mask it gives
            mask = None
            if j >= 0 and (self.training or self.attn_mask_probs[j] > 0):
                prediction = self.predict(x)
                aux_outputs.append(prediction)
                mask = query_attention_mask(
                    prediction["pred_masks"], grid_size=self.embeddings.grid_size,
                    num_prefix_tokens=self.embeddings.num_prefix_tokens,
                    probability=self.attn_mask_probs[j])
            x = block(x, attention_mask=mask)
        # 4. the final prediction
        return {**self.predict(x), "aux_outputs": aux_outputs}

    @torch.no_grad()
    def anneal(self, progress: float) -> list[float]:
        """Set each masked block's mask probability for training ``progress`` (steps done over
        total steps) from the annealing windows (:mod:`.annealing`); return them."""
        probs = annealed_probabilities(progress, starts=self.annealing[0],
                                       ends=self.annealing[1], power=self.annealing_power)
        self.attn_mask_probs.copy_(torch.tensor(probs))
        return probs


@register_model("eomt")
def eomt(**kwargs) -> Eomt:
    """Slim EoMT for segedu's zoo (128 px synthetic scenes, trained from scratch on a CPU).

    A ViT of width 96, depth 6, 3 heads, 8-pixel patches (a 16 x 16 grid), no registers; the
    last 2 blocks carry 20 queries; one up-scaling block (32 x 32 masks, stride 4);
    ``num_classes=6`` (the scenes' sky, grass, water, circle, rectangle, triangle). 784,135
    parameters: embeddings 43,200, the 4 plain blocks 448,128, the 2 blocks with queries
    224,064, queries 1,920, final norm 192, prediction head 66,631 (class 679, mask MLP 27,936,
    up-scaling 38,016). Every argument of :class:`Eomt` can be overridden.
    """
    config = dict(num_classes=6, image_size=128, patch_size=8, dim=96, depth=6, num_heads=3,
                  num_register_tokens=0, num_queries=20, num_blocks=2)
    return Eomt(**{**config, **kwargs})


@register_model("eomt_large_640", official=lambda: OFFICIAL_URLS["eomt_large_640"],
                convert=convert_transformers_state_dict)
def eomt_large_640(**kwargs) -> Eomt:
    """The paper's EoMT-L on COCO panoptic at 640 px (``tue-mps/coco_panoptic_eomt_large_640``,
    the checkpoint of ``transformers``' ``EomtConfig``; its ``model.safetensors`` is converted by
    :func:`~.convert.convert_transformers_state_dict`): DINOv2-L with 4 registers (width 1024,
    24 blocks, 16 heads, 16-pixel patches), the last 4 blocks with 200 queries, two up-scaling
    blocks, ``num_classes=133``. 316,695,686 parameters, as many as ``transformers``'
    ``EomtForUniversalSegmentation(EomtConfig())`` (counted in the tests). Every argument of
    :class:`Eomt` can be overridden.
    """
    config = dict(num_classes=133, image_size=640, patch_size=16, dim=1024, depth=24,
                  num_heads=16, num_register_tokens=4, num_queries=200, num_blocks=4)
    return Eomt(**{**config, **kwargs})
