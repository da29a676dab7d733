r"""OneFormer (Jain, Li, Chiu, Hassani, Orlov & Shi, "OneFormer: One Transformer to Rule Universal
Image Segmentation", CVPR 2023): the network.

Mask2Former is *universal in architecture*: one network design for the three tasks, but trained
three times, once per task, giving three sets of weights. OneFormer is *universal in training*
too: one network trained **once**, on panoptic annotations, and told at run time which task to
solve by a text prompt, the **task token** ``"the task is {semantic|instance|panoptic}"``::

    images (B, 3, H, W)               "the task is semantic"
      -> backbone (Swin)                -> CLIP token ids (B, 77)       (.tokens)
      -> pixel decoder (Mask2Former's)  -> task MLP: Q_task (B, C)      (.task_token)
         mask features (B, D, H/4, W/4), 3 maps at strides 32, 16, 8
      -> queries from Q_task: 2 DETR layers on the mask features        (.query_transformer)
         [Q - 1 object queries; Q_task]  (B, Q, C)
      -> Mask2Former's masked-attention decoder, N layers               (.transformer_decoder)
      -> pred_logits (B, Q, K + 1), pred_masks (B, Q, H/4, W/4), aux_outputs

    training only: the text list (B, Q - N_ctx, 77) -> text mapper -> Q_text (B, Q, C)
                   and the query-text contrastive loss     (.text_mapper, .contrastive_loss)

Training draws a task per image (uniformly), derives that task's segments from the panoptic
annotation, and applies Mask2Former's set criterion (class 2, mask 5, Dice 5, on every layer) plus
0.5 x the contrastive loss. Reading out a prediction is Mask2Former's (semantic, instance,
panoptic inference), but with the task's prompt given to the network.

Composition: the pixel decoder, the attention mask, the set criterion
(:class:`~segedu.models.universal.mask2former.QueryTraining`) and the read-outs
(:class:`~segedu.models.universal.mask2former.QueryInference`) are Mask2Former's, used whole.

Relation to ``transformers``' ``OneFormerForUniversalSegmentation`` (proven equal in
``tests/models/universal/oneformer/test_network.py``; :mod:`.convert` maps its state dict): it
takes normalised pixels and token ids, segedu ``[0, 1]`` images (normalised inside with the
ImageNet mean and std, as its processor) and task names; images whose sides are not multiples
of 32 are zero-padded at the bottom and right and the masks cropped back (as Mask2Former).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ..base import UniversalModel, check_image_batch
from ..mask2former import MSDeformAttnPixelDecoder, QueryInference, QueryTraining
from .contrastive_loss import QueryTextContrastiveLoss
from .swin_backbone import SwinBackbone
from .task_token import TaskEncoder, task_token_ids
from .text_mapper import TextMapper, text_list
from .tokens import clip_token_ids
from .transformer_decoder import OneFormerTransformerDecoder

__all__ = ["OneFormer"]


class OneFormer(QueryInference, QueryTraining, UniversalModel):
    """OneFormer with a Swin backbone (module docstring); a
    :class:`~segedu.models.universal.base.UniversalModel` whose ``forward`` also takes the task.

    Args (keyword-only):
        num_classes: ``K`` classes without "no object".
        backbone: keyword arguments of :class:`.swin_backbone.SwinBackbone` (default Swin-T).
        conv_dim: width of the pixel decoder and of the mask features (256).
        hidden_dim: ``C``, the query width (256).
        num_queries: ``Q``, the task token included (150).
        num_heads: attention heads of the pixel decoder's encoder and of the decoders (8).
        encoder_layers, encoder_ffn_dim: the deformable encoder (6, 1024).
        decoder_layers, decoder_ffn_dim: masked-attention layers ``N`` and FFN width (9, 2048).
        query_layers: layers of the query transformer (2).
        task_seq_len: token length of the task prompt (77).
        use_task_norm: normalise the task token and start the queries from it (True).
        text_mapper: keyword arguments of :class:`.text_mapper.TextMapper` (``dim`` is
            ``hidden_dim``), or ``None`` for no text mapper (inference only: the published
            checkpoints of ``transformers`` were saved without it).
        contrastive_temperature, contrastive_weight: the contrastive loss's initial temperature
            (0.07) and its weight in :meth:`total_loss` (0.5).
        size_divisibility: pad the images to a multiple of this (32).
        criterion: keyword arguments of the Mask2Former set criterion (``num_points``, ...).
    """

    def __init__(self, *, num_classes: int, backbone: dict | None = None, conv_dim: int = 256,
                 hidden_dim: int = 256, num_queries: int = 150, num_heads: int = 8,
                 encoder_layers: int = 6, encoder_ffn_dim: int = 1024, decoder_layers: int = 9,
                 decoder_ffn_dim: int = 2048, query_layers: int = 2, task_seq_len: int = 77,
                 use_task_norm: bool = True, text_mapper: dict | None = None,
                 contrastive_temperature: float = 0.07, contrastive_weight: float = 0.5,
                 size_divisibility: int = 32, criterion: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("num_classes (without 'no object') must be a positive int, got "
                             f"{num_classes!r}")
        self.num_classes, self.num_queries = num_classes, num_queries
        self.size_divisibility, self.task_seq_len = size_divisibility, task_seq_len
        self.contrastive_weight = contrastive_weight
        self.criterion_options = dict(criterion or {})
        self.backbone = SwinBackbone(**(backbone or {}))
        self.pixel_decoder = MSDeformAttnPixelDecoder(
            in_channels=self.backbone.stage_channels, conv_dim=conv_dim, mask_dim=conv_dim,
            num_encoder_layers=encoder_layers, encoder_ffn_dim=encoder_ffn_dim,
            num_heads=num_heads)
        self.task_encoder = TaskEncoder(seq_len=task_seq_len, dim=hidden_dim)
        self.predictor = OneFormerTransformerDecoder(
            in_channels=conv_dim, num_classes=num_classes, hidden_dim=hidden_dim,
            num_queries=num_queries, num_heads=num_heads, ffn_dim=decoder_ffn_dim,
            num_layers=decoder_layers, query_layers=query_layers, use_task_norm=use_task_norm)
        self.text_mapper = (None if text_mapper is None
                            else TextMapper(dim=hidden_dim, **text_mapper))
        self.contrastive = QueryTextContrastiveLoss(temperature=contrastive_temperature)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def num_texts(self) -> int:
        """Entries of an image's text list: ``Q`` less the learned context entries."""
        if self.text_mapper is None:
            raise ValueError("this OneFormer has no text mapper (built with text_mapper=None)")
        ctx = self.text_mapper.prompt_ctx
        return self.num_queries - (0 if ctx is None else ctx.num_embeddings)

    def text_ids(self, labels: Sequence[Sequence[int]], *, class_names: Sequence[str],
                 tasks: Sequence[str], tokenizer=None) -> torch.Tensor:
        """Each image's target class indices and task -> its text list's token ids
        ``(B, Q - N_ctx, L)`` (:func:`.text_mapper.text_list`, :func:`.tokens.clip_token_ids`)."""
        num_texts = self.num_texts  # raises without a text mapper
        length = self.text_mapper.text_encoder.context_length
        return torch.stack([
            clip_token_ids(text_list(image_labels, class_names=class_names, task=task,
                                     num_texts=num_texts), length=length, tokenizer=tokenizer)
            for image_labels, task in zip(labels, tasks, strict=True)])

    def forward(self, images: torch.Tensor, *, task: str | Sequence[str] = "panoptic",
                text_ids: torch.Tensor | None = None) -> dict:
        """``images (B, 3, H, W)`` float in ``[0, 1]``, the ``task`` (one for all images, or one
        per image) and, in training, the text lists' ids ``(B, Q - N_ctx, L)`` ->

        ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, ceil(H/4), ceil(W/4)),
        "aux_outputs": [...] * N, "contrastive_queries": (B, Q, C)}``, plus ``"text_queries"``
        ``(B, Q, C)`` when ``text_ids`` is given.
        """
        check_image_batch(images)
        batch, height, width = images.shape[0], *images.shape[-2:]
        tasks = [task] * batch if isinstance(task, str) else list(task)
        if len(tasks) != batch:
            raise ValueError(f"give one task, or one per image ({batch}), got {len(tasks)}")
        # 1. normalise, pad to a multiple of 32 at the bottom and right
        x = (images - self.pixel_mean) / self.pixel_std
        d = self.size_divisibility
        x = F.pad(x, (0, (d - width % d) % d, 0, (d - height % d) % d))
        # 2. backbone and pixel decoder: mask features and three maps
        mask_features, multi_scale_features = self.pixel_decoder(self.backbone.forward_stages(x))
        # 3. the task token: prompt -> ids -> MLP, (B, C)
        ids = task_token_ids(tasks, length=self.task_seq_len).to(images.device)
        task_token = self.task_encoder(ids)
        # 4. task-conditioned queries through the masked-attention decoder
        outputs = self.predictor(multi_scale_features, mask_features, task_token=task_token)
        # 5. the text queries of the training-time text lists
        if text_ids is not None:
            if self.text_mapper is None:
                raise ValueError("text_ids given, but this OneFormer has no text mapper")
            outputs["text_queries"] = self.text_mapper(text_ids.to(images.device))
        # 6. crop the masks back to the image (stride 4)
        h, w = -(-height // 4), -(-width // 4)
        for prediction in [outputs, *outputs["aux_outputs"]]:
            prediction["pred_masks"] = prediction["pred_masks"][..., :h, :w]
        return outputs

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """Mask2Former's set losses of every prediction and, when ``outputs`` holds
        ``text_queries``, ``loss_contrastive`` (unweighted; :meth:`total_loss` weights them)."""
        losses = super().loss(outputs, targets)
        if "text_queries" in outputs:
            losses["loss_contrastive"] = self.contrastive(outputs["contrastive_queries"],
                                                          outputs["text_queries"])
        return losses

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class 2, mask 5, Dice 5 on every prediction, plus 0.5 x the contrastive loss."""
        total = super().total_loss({k: v for k, v in losses.items() if k != "loss_contrastive"})
        if "loss_contrastive" in losses:
            total = total + self.contrastive_weight * losses["loss_contrastive"]
        return total
