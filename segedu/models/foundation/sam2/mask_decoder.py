"""SAM 2's mask decoder: SAM's (:class:`segedu.models.foundation.sam.MaskDecoder`, the same
two-way transformer, hypernetworks and IoU head), with three changes (Ravi et al., "SAM 2",
2024, section 4 and appendix):

1. **Object score.** One more output token, ``obj_score_token``, put *first*, goes through a
   3-layer MLP to one logit: is the object in the frame at all? In a video the object may be
   occluded or gone; a negative score makes the caller blank the mask.
2. **High-resolution skips.** The upsampling adds the image encoder's stride-8 and stride-4
   maps (projected by ``conv_s1``, ``conv_s0`` to C/4 and C/8 channels) after each transposed
   convolution, for sharper masks::

       up = GELU(LN(deconv1(image) + conv_s1(feat_8)))
       up = GELU(deconv2(up) + conv_s0(feat_4))

3. **Dynamic multimask.** When one mask is asked for, the single-mask token's mask is kept only
   if it is *stable* (the areas above +0.05 and above -0.05 logits have IoU >= 0.98); otherwise
   the best of the three ambiguity masks by predicted IoU replaces it. The predicted IoUs go
   through a sigmoid.

The decoder also returns its mask tokens: the chosen one becomes the *object pointer* of the
memory. Names follow facebookresearch/sam2's ``MaskDecoder``; results are those of
``transformers``' ``Sam2MaskDecoder`` (tested through the whole model).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.mlp import MLP
from ..sam.mask_decoder import MaskDecoder

__all__ = ["Sam2MaskDecoder"]


class Sam2MaskDecoder(MaskDecoder):
    """SAM's mask decoder plus an object score, high-resolution skips and dynamic multimask
    (module docstring). Arguments are :class:`~segedu.models.foundation.sam.MaskDecoder`'s, plus
    (keyword-only):

        dynamic_multimask_stability_delta: the logit margin of the stability score (0.05).
        dynamic_multimask_stability_thresh: the stability below which a multimask replaces the
            single mask (0.98).
    """

    def __init__(self, *, transformer_dim: int, dynamic_multimask_stability_delta: float = 0.05,
                 dynamic_multimask_stability_thresh: float = 0.98, **kwargs) -> None:
        super().__init__(transformer_dim=transformer_dim, **kwargs)
        # SAM 2.1's IoU head ends in a sigmoid (iou_prediction_use_sigmoid=True)
        self.iou_prediction_head.sigmoid_output = True
        self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.pred_obj_score_head = MLP(input_dim=transformer_dim, hidden_dim=transformer_dim,
                                       output_dim=1, num_layers=3)
        self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.stability_delta = dynamic_multimask_stability_delta
        self.stability_thresh = dynamic_multimask_stability_thresh

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args:
            image_embeddings: ``(B, C, h, w)``, one per prompt (or ``(1, ...)``, repeated).
            image_pe: ``(1, C, h, w)``, the dense position code.
            sparse_prompt_embeddings: ``(B, N, C)``.
            dense_prompt_embeddings: ``(B, C, h, w)``.
            multimask_output: the three ambiguity masks, or one (dynamically chosen).
            high_res_features: ``[conv_s0(feat_4) (B, C/8, 4h, 4w), conv_s1(feat_8) (B, C/4, 2h,
                2w)]``, already projected (the video model projects them once per frame).
        Returns:
            masks ``(B, M, 4h, 4w)``, IoUs ``(B, M)``, mask tokens ``(B, M, C)`` and object score
            logits ``(B, 1)``; ``M`` = 3 or 1.
        """
        if high_res_features is None:
            raise ValueError("SAM 2's decoder needs the stride-4 and stride-8 features")
        masks, iou_pred, mask_tokens, object_score = self._predict(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
            high_res_features)
        if multimask_output:
            return masks[:, 1:], iou_pred[:, 1:], mask_tokens[:, 1:], object_score
        if not self.training:
            masks, iou_pred = self._dynamic_multimask(masks, iou_pred)
        return masks[:, :1], iou_pred[:, :1], mask_tokens[:, :1], object_score

    def _predict(self, image_embeddings, image_pe, sparse, dense, high_res_features):
        """All four masks, IoUs and mask tokens, and the object score (see :meth:`forward`)."""
        # output tokens: object score, IoU, the mask tokens; then the prompts
        output_tokens = torch.cat(
            [self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse), dim=1)
        # one copy of the image embedding per prompt, plus the dense prompt
        repeats = tokens.shape[0] // image_embeddings.shape[0]
        src = torch.repeat_interleave(image_embeddings, repeats, dim=0) + dense
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos_src, tokens)
        object_token_out = hs[:, 0, :]
        iou_token_out = hs[:, 1, :]
        mask_tokens_out = hs[:, 2 : 2 + self.num_mask_tokens, :]
        # upsample x4 with the high-resolution skips
        feat_s0, feat_s1 = (torch.repeat_interleave(f, repeats, dim=0) for f in high_res_features)
        deconv1, norm1, act1, deconv2, act2 = self.output_upscaling
        src = src.transpose(1, 2).reshape(b, c, h, w)
        upscaled = act1(norm1(deconv1(src) + feat_s1))
        upscaled = act2(deconv2(upscaled) + feat_s0)
        # hypernetworks: each mask token -> a 1 x 1 conv on the upscaled map
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        iou_pred = self.iou_prediction_head(iou_token_out)
        object_score = self.pred_obj_score_head(object_token_out)
        return masks, iou_pred, mask_tokens_out, object_score

    def _dynamic_multimask(self, masks: torch.Tensor, iou_pred: torch.Tensor):
        """Replace mask 0 by the best ambiguity mask where mask 0 is unstable:
        ``(B, 4, H, W), (B, 4)`` -> same shapes (only entry 0 may change)."""
        # the best of masks 1..3 by predicted IoU
        best = torch.argmax(iou_pred[:, 1:], dim=-1) + 1
        rows = torch.arange(masks.shape[0], device=masks.device)
        best_masks = masks[rows, best][:, None]
        best_iou = iou_pred[rows, best][:, None]
        # stability of mask 0: area above +delta over area above -delta
        flat = masks[:, 0].flatten(1)
        area_i = (flat > self.stability_delta).sum(-1).float()
        area_u = (flat > -self.stability_delta).sum(-1).float()
        stability = torch.where(area_u > 0, area_i / area_u, 1.0)
        stable = stability >= self.stability_thresh
        single = torch.where(stable[:, None, None, None], masks[:, :1], best_masks)
        single_iou = torch.where(stable[:, None], iou_pred[:, :1], best_iou)
        return torch.cat([single, masks[:, 1:]], 1), torch.cat([single_iou, iou_pred[:, 1:]], 1)
