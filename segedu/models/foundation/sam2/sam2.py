"""SAM 2 (Ravi, Gabeur, Hu, Hu, Ryali, Ma, Khedr, Rädle, Rolland, Gustafson, Mintun, Pan,
Alwala, Carion, Wu, Girshick, Dollár & Feichtenhofer, "SAM 2: Segment Anything in Images and
Videos", 2024): SAM with a memory, so that a prompt on one frame segments the object in every
frame.

One frame of one object, as :meth:`Sam2.track_step` computes it::

    image -> ImageEncoder (Hiera + FPN) -> feat_4, feat_8 (skips), embedding (stride 16)
    embedding -> MemoryAttention(embedding, memory bank)        (a prompted first frame instead
                                                                  adds the learned no_mem_embed)
    -> SAM head: prompt encoder + mask decoder -> mask logits, IoUs, object score, mask token
    -> object pointer = obj_ptr_proj(mask token)    (no_obj_ptr where the object score is < 0)
    -> MemoryEncoder(embedding, mask) -> spatial memory of this frame (bfloat16 in the bank)

:meth:`Sam2.track` runs this through a clip for a batch of objects prompted on its first frame
(:meth:`Sam2.forward` on a clip's frames), as SAM 2 is trained; the bank is :mod:`.memory_bank`,
and the interactive loop over frames and objects, with prompts on any frame, is
:mod:`.video_predictor`. On a single image there is no memory: :meth:`Sam2.predict_image` adds
``no_mem_embed`` and runs the SAM head, which is SAM 2 as an image segmenter.

Parameter names follow facebookresearch/sam2's ``SAM2Base`` (``image_encoder``,
``sam_prompt_encoder``, ``sam_mask_decoder``, ``memory_attention``, ``memory_encoder``,
``no_mem_embed``, ``maskmem_tpos_enc``, ``no_obj_ptr``, ``obj_ptr_proj``, ``obj_ptr_tpos_proj``,
``no_obj_embed_spatial``, ``mask_downsample``), SAM 2.1's options; results are those of
``transformers``' ``Sam2Model`` and ``Sam2VideoModel`` (tested, :mod:`.convert`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....nn.mlp import MLP
from .image_encoder import ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .memory_attention import MemoryAttention
from .memory_bank import ObjectMemory, gather_memory
from .memory_encoder import MemoryEncoder
from .outputs import FrameFeatures, FrameOutput
from .prompt_encoder import Sam2PromptEncoder, box_to_points

__all__ = ["Sam2", "NO_OBJ_SCORE", "PIXEL_MEAN", "PIXEL_STD"]

# the logit given to every pixel of an object predicted absent
NO_OBJ_SCORE = -1024.0
# ImageNet normalisation of the input, as SAM 2's image and video processors
PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


class Sam2(nn.Module):
    """SAM 2 (module docstring). Inputs are ``(B, 3, S, S)`` images normalised with
    :data:`PIXEL_MEAN` and :data:`PIXEL_STD`; points are pixels ``(x, y)`` of that input.

    Args (keyword-only):
        image_encoder, prompt_encoder, mask_decoder, memory_attention, memory_encoder: the parts.
        image_size: ``S`` (1024).
        num_maskmem: memory slots: the prompted frames plus ``num_maskmem - 1`` recent ones (7).
        max_obj_ptrs_in_encoder: object pointers from at most this many frames (16).
        sigmoid_scale_for_mem_enc, sigmoid_bias_for_mem_enc: the mask's scaling before the
            memory encoder (20, -10).
        multimask_min_pt_num, multimask_max_pt_num: a frame with this many prompt points (box
            corners count) predicts three masks and keeps the best (0, 1).
    """

    def __init__(
        self,
        *,
        image_encoder: ImageEncoder,
        prompt_encoder: Sam2PromptEncoder,
        mask_decoder: Sam2MaskDecoder,
        memory_attention: MemoryAttention,
        memory_encoder: MemoryEncoder,
        image_size: int = 1024,
        num_maskmem: int = 7,
        max_obj_ptrs_in_encoder: int = 16,
        sigmoid_scale_for_mem_enc: float = 20.0,
        sigmoid_bias_for_mem_enc: float = -10.0,
        multimask_min_pt_num: int = 0,
        multimask_max_pt_num: int = 1,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.sam_prompt_encoder = prompt_encoder
        self.sam_mask_decoder = mask_decoder
        self.memory_attention = memory_attention
        self.memory_encoder = memory_encoder
        self.image_size = image_size
        self.num_maskmem = num_maskmem
        self.max_obj_ptrs_in_encoder = max_obj_ptrs_in_encoder
        self.sigmoid_scale_for_mem_enc = sigmoid_scale_for_mem_enc
        self.sigmoid_bias_for_mem_enc = sigmoid_bias_for_mem_enc
        self.multimask_min_pt_num = multimask_min_pt_num
        self.multimask_max_pt_num = multimask_max_pt_num
        c = prompt_encoder.embed_dim
        mem_dim = memory_encoder.out_proj.out_channels
        if c % mem_dim:
            raise ValueError(f"the embedding width {c} must be a multiple of mem_dim {mem_dim} "
                             "(object pointers are split into mem_dim-wide tokens)")
        self.hidden_dim, self.mem_dim = c, mem_dim
        # learned stand-ins: no memory yet, no object
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, c))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, c))
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, mem_dim))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, c))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))
        # a mask prompt at input size -> the decoder's mask input (stride 4)
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        # mask token -> object pointer; temporal code of a pointer -> mem_dim
        self.obj_ptr_proj = MLP(input_dim=c, hidden_dim=c, output_dim=c, num_layers=3)
        self.obj_ptr_tpos_proj = nn.Linear(c, mem_dim)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), False)

    # ----------------------------------------------------------------------------- features
    def encode_image(self, images: torch.Tensor) -> FrameFeatures:
        """Normalised images ``(B, 3, S, S)`` -> :class:`FrameFeatures`."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(f"images must be (B, 3, {self.image_size}, {self.image_size}), got "
                             f"shape {tuple(images.shape)}")
        features, positions = self.image_encoder(images)
        # the decoder's skips, projected once per frame
        high_res = [self.sam_mask_decoder.conv_s0(features[0]),
                    self.sam_mask_decoder.conv_s1(features[1])]
        return FrameFeatures(high_res=high_res, embedding=features[-1], pos=positions[-1])

    # ----------------------------------------------------------------------------- SAM head
    def sam_head(self, features: FrameFeatures, pix_feat: torch.Tensor,
                 points: torch.Tensor | None, labels: torch.Tensor | None,
                 multimask_output: bool, mask_input: torch.Tensor | None = None) -> FrameOutput:
        """The prompt encoder and mask decoder on a (memory-conditioned) embedding ``pix_feat``
        ``(B, C, h, w)``; ``points (B, N, 2)``, ``labels (B, N)`` (or ``None``: no prompt, one
        "not a point"). With ``multimask_output`` the mask with the best predicted IoU is kept.
        A mask whose object score is negative is set to :data:`NO_OBJ_SCORE`."""
        b = pix_feat.shape[0]
        if points is None:
            points = torch.zeros(b, 1, 2, device=pix_feat.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=pix_feat.device)
        # boxes come as corner points, so one "not a point" is always appended
        sparse, dense = self.sam_prompt_encoder(points=(points, labels), boxes=None,
                                                masks=mask_input)
        masks, iou, tokens, object_score = self.sam_mask_decoder(
            pix_feat, self.sam_prompt_encoder.get_dense_pe(), sparse, dense, multimask_output,
            high_res_features=features.high_res)
        raw = masks
        # an absent object gets a blank mask (hard choice, also for the memory)
        present = object_score > 0  # (B, 1)
        masks = torch.where(present[:, :, None, None], masks, NO_OBJ_SCORE)
        high_res = F.interpolate(masks, size=(self.image_size, self.image_size),
                                 mode="bilinear", align_corners=False)
        # keep the best of the three ambiguity masks
        best = torch.argmax(iou, dim=-1) if multimask_output else torch.zeros_like(iou[:, 0],
                                                                                  dtype=torch.long)
        rows = torch.arange(b, device=masks.device)
        token = tokens[rows, best]
        # object pointer: the projected mask token, or no_obj_ptr for an absent object
        obj_ptr = self.obj_ptr_proj(token)
        lam = present.to(obj_ptr.dtype)
        obj_ptr = lam * obj_ptr + (1 - lam) * self.no_obj_ptr
        return FrameOutput(pred_masks=masks[rows, best][:, None],
                           high_res_masks=high_res[rows, best][:, None], iou=iou,
                           object_score=object_score, obj_ptr=obj_ptr, multimasks=raw)

    def predict_image(self, images: torch.Tensor, *, points: torch.Tensor | None = None,
                      labels: torch.Tensor | None = None, boxes: torch.Tensor | None = None,
                      multimask_output: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SAM 2 on single images (no memory): one prompt per image.

        Args:
            images: normalised ``(B, 3, S, S)``.
            points, labels: clicks ``(B, N, 2)`` (pixels ``x, y``) and labels ``(B, N)``
                (1 foreground, 0 background).
            boxes: ``(B, 4)`` ``xyxy`` pixels.
            multimask_output: three masks (else one, chosen by stability).
        Returns:
            mask logits ``(B, M, S/4, S/4)``, predicted IoUs ``(B, M)``, object score logits
            ``(B, 1)``; ``M`` = 3 or 1. (Like SAM, without the blanking of absent objects.)
        """
        if (points is None) != (labels is None):
            raise ValueError("points and labels go together")
        if points is not None and (points.ndim != 3 or points.shape[-1] != 2
                                   or labels.shape != points.shape[:2]):
            raise ValueError(f"points must be (B, N, 2) and labels (B, N), got "
                             f"{tuple(points.shape)} and {tuple(labels.shape)}")
        features = self.encode_image(images)
        if boxes is not None:
            corners, corner_labels = box_to_points(boxes)
            points = corners if points is None else torch.cat([corners, points], 1)
            labels = corner_labels if labels is None else torch.cat([corner_labels, labels], 1)
        # no memory on a single image: the learned "no memory" embedding instead
        pix_feat = features.embedding + self.no_mem_embed.view(1, -1, 1, 1)
        if points is None:
            b = images.shape[0]
            points = torch.zeros(b, 1, 2, device=images.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=images.device)
        sparse, dense = self.sam_prompt_encoder(points=(points, labels), boxes=None, masks=None)
        masks, iou, _, object_score = self.sam_mask_decoder(
            pix_feat, self.sam_prompt_encoder.get_dense_pe(), sparse, dense, multimask_output,
            high_res_features=features.high_res)
        return masks, iou, object_score

    # ----------------------------------------------------------------------------- memory
    def condition_on_memory(self, features: FrameFeatures, memory: torch.Tensor | None,
                            memory_pos: torch.Tensor | None, num_obj_ptr_tokens: int
                            ) -> torch.Tensor:
        """The frame's embedding conditioned on the memory: ``(B, C, h, w)``. Without memory (a
        prompted first frame) the learned ``no_mem_embed`` is added instead."""
        b, c, h, w = features.embedding.shape
        if memory is None:
            return features.embedding + self.no_mem_embed.view(1, c, 1, 1)
        curr = features.embedding.flatten(2).transpose(1, 2)  # (B, hw, C)
        curr_pos = features.pos.flatten(2).transpose(1, 2)
        out = self.memory_attention(curr, curr_pos, memory, memory_pos, grid=(h, w),
                                    num_obj_ptr_tokens=num_obj_ptr_tokens)
        return out.transpose(1, 2).reshape(b, c, h, w)

    def encode_memory(self, features: FrameFeatures, high_res_masks: torch.Tensor,
                      object_score: torch.Tensor, binarize: bool
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """A frame's spatial memory from its *unconditioned* embedding and its mask logits
        ``(B, 1, S, S)``: ``(B, h * w, mem_dim)`` features (bfloat16, as SAM 2 stores them) and
        position code (float). ``binarize``: a prompted frame's mask enters as 0/1 (inference),
        others as the sigmoid of the logits."""
        mask = (high_res_masks > 0).to(high_res_masks.dtype) if binarize else \
            torch.sigmoid(high_res_masks)
        mask = mask * self.sigmoid_scale_for_mem_enc + self.sigmoid_bias_for_mem_enc
        feats, pos = self.memory_encoder(features.embedding, mask)
        # an object predicted absent: add the learned "no object" embedding everywhere
        absent = (object_score <= 0).to(feats.dtype)  # (B, 1)
        feats = feats + absent[:, :, None, None] * self.no_obj_embed_spatial[..., None, None]
        feats = feats.to(torch.bfloat16).flatten(2).transpose(1, 2)
        return feats, pos.flatten(2).transpose(1, 2)

    def track(self, frames: list[FrameFeatures],
              prompts: list[tuple[torch.Tensor, torch.Tensor]]
              ) -> tuple[list[FrameOutput], list[tuple[list[int], FrameOutput]]]:
        """Track ``B`` objects, prompted on the first frame, through a clip.

        Args:
            frames: the features of each frame, each with batch ``B`` (one row per object).
            prompts: per object, its first-frame prompt ``(points (1, N, 2), labels (1, N))``
                (a click, ``N = 1``; a box as two corners, ``N = 2``).
        Returns:
            one :class:`FrameOutput` per frame (batch ``B``, with its memory; the first frame's
            without ``iou`` and ``multimasks``), and the first frame's outputs of each group of
            objects with the same number of prompt points, ``(rows, output)``: a group is
            decoded together (the token counts differ between groups). In evaluation mode the
            prompted frame's masks enter the memory binarized, in training as sigmoids.
        """
        if len(prompts) != frames[0].embedding.shape[0]:
            raise ValueError(f"{len(prompts)} prompts for {frames[0].embedding.shape[0]} objects")
        bank = ObjectMemory()
        outputs, first = [], []
        for t, features in enumerate(frames):
            if t == 0:  # the prompted frame: no memory yet; objects grouped by prompt size
                pix_feat = self.condition_on_memory(features, None, None, 0)
                order = []
                for n in sorted({p.shape[1] for p, _ in prompts}):
                    rows = [k for k, (p, _) in enumerate(prompts) if p.shape[1] == n]
                    out = self.sam_head(features.select(rows), pix_feat[rows],
                                        torch.cat([prompts[k][0] for k in rows]),
                                        torch.cat([prompts[k][1] for k in rows]),
                                        self.use_multimask(n))
                    first.append((rows, out))
                    order += rows
                # back in object order: what the memory needs
                back = torch.argsort(torch.tensor(order))
                out = FrameOutput(iou=None, **{
                    key: torch.cat([getattr(o, key) for _, o in first])[back]
                    for key in ("pred_masks", "high_res_masks", "object_score", "obj_ptr")})
            else:  # later frames: the memory, no prompt
                memory, memory_pos, num_ptr = gather_memory(self, bank, t, len(frames))
                pix_feat = self.condition_on_memory(features, memory, memory_pos, num_ptr)
                out = self.sam_head(features, pix_feat, None, None, self.use_multimask(0))
            # the frame's memory, from its predicted mask
            out.maskmem_features, out.maskmem_pos = self.encode_memory(
                features, out.high_res_masks, out.object_score,
                binarize=t == 0 and not self.training)
            (bank.cond if t == 0 else bank.non_cond)[t] = out
            outputs.append(out)
        return outputs, first

    def forward(self, frames: torch.Tensor, points: torch.Tensor, labels: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Segment ``B`` objects through a clip from prompts on its first frame (:meth:`track`).

        Args:
            frames: normalised ``(T, 3, S, S)``.
            points, labels: ``(B, N, 2)`` pixels ``(x, y)`` and ``(B, N)`` labels on frame 0.
        Returns:
            mask logits ``(T, B, 1, S/4, S/4)`` and object score logits ``(T, B, 1)``.
        """
        if points.ndim != 3 or points.shape[-1] != 2 or labels.shape != points.shape[:2]:
            raise ValueError(f"points must be (B, N, 2) and labels (B, N), got "
                             f"{tuple(points.shape)} and {tuple(labels.shape)}")
        features = self.encode_image(frames)
        b = points.shape[0]
        outs, _ = self.track([features.select([t] * b) for t in range(frames.shape[0])],
                             [(points[k : k + 1], labels[k : k + 1]) for k in range(b)])
        return (torch.stack([o.pred_masks for o in outs]),
                torch.stack([o.object_score for o in outs]))

    def use_multimask(self, num_points: int) -> bool:
        """Whether a frame with ``num_points`` prompt points predicts three masks."""
        return self.multimask_min_pt_num <= num_points <= self.multimask_max_pt_num
