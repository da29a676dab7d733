"""SAM's mask decoder (Kirillov et al., ICCV 2023, section 3 and appendix A): the image embedding
and the prompt embeddings to masks, with one predicted IoU per mask.

::

    tokens = [iou_token, mask_token_0 .. mask_token_3, prompt tokens]        (B, 5 + N, C)
    image  = image embedding (repeated per prompt) + dense prompt embedding   (B, C, h, w)
    tokens, image = TwoWayTransformer(image, dense positional code, tokens)
    image  -> upscaling: 2 transposed convs (x4), LayerNorm2d, GELU          (B, C/8, 4h, 4w)
    mask k = MLP_k(mask_token_k) . image   (a dynamic 1 x 1 conv: a hypernetwork)
    IoU    = MLP(iou_token)                                                   (B, 4)

**Ambiguity.** A single click may mean a part, an object or a group. SAM therefore predicts
``num_multimask_outputs = 3`` masks (tokens 1..3) plus a single-mask token (token 0), meant for
unambiguous prompts (several points, a box). ``multimask_output=True`` returns masks 1..3,
``False`` mask 0 only; the IoU head scores every mask so the caller can pick one. (In training,
only the mask with the lowest loss receives gradient.)

Parameter names (``iou_token``, ``mask_tokens``, ``output_upscaling``,
``output_hypernetworks_mlps``, ``iou_prediction_head``) and results are those of
segment-anything's ``MaskDecoder`` (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.layer_norm_2d import LayerNorm2d
from ....nn.mlp import MLP

__all__ = ["MaskDecoder"]


class MaskDecoder(nn.Module):
    """Predict masks and their IoU from image and prompt embeddings (module docstring).

    Args (keyword-only):
        transformer_dim: the width ``C`` of the embeddings (256); must be divisible by 8.
        transformer: the two-way transformer (:class:`~.two_way_transformer.TwoWayTransformer`).
        num_multimask_outputs: masks for ambiguous prompts (3); one more token is the single mask.
        activation: activation of the upscaler (GELU).
        iou_head_depth: layers of the IoU MLP (3).
        iou_head_hidden_dim: hidden width of the IoU MLP (256).
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        if transformer_dim % 8:
            raise ValueError(f"transformer_dim must be divisible by 8, got {transformer_dim}")
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        # learned output tokens: one for the IoU, one per mask (single + multimask)
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        # image (C, h, w) -> (C / 8, 4h, 4w)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(num_channels=transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        # one hypernetwork MLP per mask token: token (C) -> weights of a 1 x 1 conv (C / 8)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(
                input_dim=transformer_dim,
                hidden_dim=transformer_dim,
                output_dim=transformer_dim // 8,
                num_layers=3,
            )
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            input_dim=transformer_dim,
            hidden_dim=iou_head_hidden_dim,
            output_dim=self.num_mask_tokens,
            num_layers=iou_head_depth,
        )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            image_embeddings: ``(1, C, h, w)``, the embedding of one image (repeated for the
                ``B`` prompts).
            image_pe: ``(1, C, h, w)`` from :meth:`~.prompt_encoder.PromptEncoder.get_dense_pe`.
            sparse_prompt_embeddings: ``(B, N, C)``.
            dense_prompt_embeddings: ``(B, C, h, w)``.
            multimask_output: return the three ambiguity masks (else the single one).

        Returns:
            mask logits ``(B, M, 4h, 4w)`` and predicted IoUs ``(B, M)``, ``M`` = 3 or 1.
        """
        masks, iou_pred = self.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        # the ambiguity masks 1.. or the single mask 0
        selected = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, selected], iou_pred[:, selected]

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``num_mask_tokens`` masks ``(B, 4, 4h, 4w)`` and IoUs ``(B, 4)``
        (see :meth:`forward`)."""
        # output tokens first, then the prompt tokens: (B, 1 + num_mask_tokens + N, C)
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)
        # one copy of the image embedding per prompt, plus the dense (mask) prompt
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape
        # two-way transformer
        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        # upscale the updated image embedding x4: (B, C / 8, 4h, 4w)
        src = src.transpose(1, 2).view(b, c, h, w)
        upscaled = self.output_upscaling(src)
        # each mask token -> the weights of a 1 x 1 conv on the upscaled embedding
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )  # (B, num_mask_tokens, C / 8)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        # predicted IoU of every mask
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred
