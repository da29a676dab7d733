r"""SOLOv2 (Wang, Zhang, Kong, Li & Shen, "SOLOv2: Dynamic and Fast Instance Segmentation",
NeurIPS 2020): instance masks by location, from kernels made per instance.

No boxes, no anchors, no RoI: the image is cut into an :math:`S \times S` grid per level, and the
cell holding an object's centre both classifies it and *generates the convolution kernel* that
cuts its mask out of a map shared by all instances::

    image -> ResNet -> FPN (P2 .. P5, P6 = max-pool of P5)
      P2 .. P5 -> mask-feature branch (fused at 1/4, coordinates on P5) -> F (N, E, H/4, W/4)
      each level l (P2 taken at P3's size, P6 at P5's), + coordinates, resized to S_l x S_l:
          -> category branch -> class logits (N, C, S_l, S_l)
          -> kernel branch   -> kernels G    (N, E, S_l, S_l)
    mask of cell (i, j) = G_ij * F   (a 1x1 convolution), for the cells that score high
    -> maskness-weighted scores -> Matrix NMS -> masks at full size

The interface is torchvision's detection API, as YOLACT's: ``model(images, targets)`` with
``images`` a list of ``(3, H, W)`` float tensors in ``[0, 1]`` (normalised inside with the
ImageNet mean and std, zero-padded at the bottom and right to the largest size rounded up to a
multiple of 32, as SOLO's data pipeline pads). In training mode with ``targets`` (dicts with
``boxes (M, 4)`` ``xyxy`` pixels, ``labels (M,)`` in ``1 .. num_classes - 1``, ``masks
(M, H, W)``) it returns the losses of :mod:`.loss`; in eval mode one dict per image with
``boxes (n, 4)``, ``labels (n,)``, ``scores (n,)`` and ``masks (n, 1, H, W)`` probabilities.

The parts, one module each: :mod:`.coordinates`, :mod:`.category_branch`,
:mod:`.kernel_branch`, :mod:`.mask_feature`, :mod:`.dynamic_conv`, :mod:`.targets`,
:mod:`.loss`, :mod:`.postprocess`; Matrix NMS is :func:`segedu.ops.matrix_nms`. Not in segedu:
deformable convolutions (the paper's DCN variants) and the "light" variants' smaller heads
(though ``head_channels`` and ``num_convs`` build them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.fpn import BackboneWithFPN, LastLevelMaxPool
from ....nn.resnet import resnet_by_name
from ...registry import register_model
from ..base import TopDownModel, check_box_targets, check_image_list
from .category_branch import CategoryBranch
from .coordinates import with_coordinates
from .kernel_branch import KernelBranch
from .loss import LOSS_OPTIONS, solov2_loss
from .mask_feature import MaskFeatureBranch
from .postprocess import INFERENCE_OPTIONS, solov2_detections
from .targets import solov2_targets

__all__ = ["SOLOv2", "solov2", "solov2_resnet50_fpn", "SIZE_DIVISOR", "PAPER_SCALE_RANGES"]

SIZE_DIVISOR = 32  # images are padded to a multiple of the deepest FPN stride
MASK_STRIDE = 4  # the mask features are at P2's scale
# sqrt(w h) ranges of the paper's five levels, for images of about 800 x 1333
PAPER_SCALE_RANGES = ((1, 96), (48, 192), (96, 384), (192, 768), (384, 2048))


class SOLOv2(TopDownModel):
    """SOLOv2 (see the module docstring), a
    :class:`~segedu.models.top_down.base.TopDownModel`: ``forward`` is :meth:`head_outputs`,
    then :meth:`loss` of :meth:`targets` in training or :meth:`postprocess` in evaluation.

    Args (keyword-only):
        num_classes: classes *including* the background (81 for COCO); the category branch
            scores the ``num_classes - 1`` foreground classes.
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``; backbone_width: its
            first-stage width (64 is the published network).
        fpn_channels: the FPN's width (256).
        head_channels, num_convs: the width and depth of the category and kernel towers
            (512 and 4 in the paper).
        mask_hidden_channels: the mask-feature branch's width (128).
        kernel_channels: ``E``, the mask features' channels and each kernel's length (256).
        grid_sizes: ``S`` per level P2 .. P6 (the paper's ``(40, 36, 24, 16, 12)``).
        scale_ranges: ``(lower, upper)`` of an object's :math:`\\sqrt{wh}` per level.
        strides: each level's stride after the resizing (8, 8, 16, 32, 32); a predicted mask
            must have more pixels (at 1/4 scale) than its level's stride.
        center_sampling: :math:`\\epsilon` of the centre region (0.2).
        num_groups: GroupNorm groups (32).
        loss_weights: overrides of the loss's options (``.loss.LOSS_OPTIONS``:
            ``mask_weight`` :math:`\\lambda = 3`, ``focal_alpha``, ``focal_gamma``).
        inference: overrides of the inference options (``.postprocess.INFERENCE_OPTIONS``).
    """

    def __init__(self, *, num_classes: int, backbone: str = "resnet18", backbone_width: int = 32,
                 fpn_channels: int = 64, head_channels: int = 64, num_convs: int = 2,
                 mask_hidden_channels: int = 32, kernel_channels: int = 64,
                 grid_sizes: Sequence[int] = (12, 10, 8, 6, 4),
                 scale_ranges: Sequence[tuple[float, float]] = ((1, 16), (8, 32), (16, 64),
                                                                 (32, 128), (64, 256)),
                 strides: Sequence[int] = (8, 8, 16, 32, 32), center_sampling: float = 0.2,
                 num_groups: int = 8, loss_weights: dict[str, float] | None = None,
                 inference: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError("num_classes counts the background and must be an int >= 2, got "
                             f"{num_classes!r}")
        if not len(grid_sizes) == len(scale_ranges) == len(strides) == 5:
            raise ValueError("grid_sizes, scale_ranges and strides need one entry per level "
                             f"P2 .. P6 (5), got {len(grid_sizes)}, {len(scale_ranges)}, "
                             f"{len(strides)}")
        if not 0 < center_sampling <= 1:
            raise ValueError(f"center_sampling must be in (0, 1], got {center_sampling!r}")
        self.num_classes = num_classes
        self.grid_sizes = tuple(int(s) for s in grid_sizes)
        self.scale_ranges = tuple((float(a), float(b)) for a, b in scale_ranges)
        self.strides = tuple(int(s) for s in strides)
        self.center_sampling = float(center_sampling)
        self.loss_weights = _options("loss_weights", loss_weights, LOSS_OPTIONS)
        self.inference = _options("inference", inference, INFERENCE_OPTIONS)
        # ResNet C2 .. C5 -> FPN P2 .. P5, P6 by max pooling (mmdetection's FPN, num_outs=5)
        body = resnet_by_name(backbone, include_top=False, width=backbone_width)
        self.backbone = BackboneWithFPN(body=body, returned_stages=(1, 2, 3, 4),
                                        out_channels=fpn_channels,
                                        extra_blocks=LastLevelMaxPool())
        self.mask_feature = MaskFeatureBranch(in_channels=fpn_channels,
                                              hidden_channels=mask_hidden_channels,
                                              out_channels=kernel_channels, num_levels=4,
                                              num_groups=num_groups)
        self.category_branch = CategoryBranch(in_channels=fpn_channels,
                                              hidden_channels=head_channels, num_convs=num_convs,
                                              num_classes=num_classes - 1, num_groups=num_groups)
        self.kernel_branch = KernelBranch(in_channels=fpn_channels, hidden_channels=head_channels,
                                          num_convs=num_convs, kernel_channels=kernel_channels,
                                          num_groups=num_groups)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(3, 1, 1), persistent=False)

    # -- input --------------------------------------------------------------------------------
    @staticmethod
    def padded_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """The batch's ``(H, W)``: the largest image size, rounded up to a multiple of 32."""
        height = max(h for h, _ in sizes)
        width = max(w for _, w in sizes)
        return (-(-height // SIZE_DIVISOR) * SIZE_DIVISOR, -(-width // SIZE_DIVISOR) * SIZE_DIVISOR)

    def _batch(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Normalise and zero-pad to :meth:`padded_size`: ``(N, 3, H, W)``."""
        height, width = self.padded_size([tuple(im.shape[-2:]) for im in images])
        batch = images[0].new_zeros((len(images), 3, height, width))
        for i, image in enumerate(images):
            batch[i, :, : image.shape[-2], : image.shape[-1]] = (image - self.mean) / self.std
        return batch

    # -- forward ------------------------------------------------------------------------------
    def forward(self, images: list[torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None):
        check_image_list(images)
        if self.training and targets is None:
            raise ValueError("in training mode SOLOv2 needs targets (call model.eval() for "
                             "detections)")
        if self.training and len(targets) != len(images):
            raise ValueError(f"targets must be a list of one dict per image ({len(images)})")
        outputs = self.head_outputs(images)
        if self.training:  # the losses
            return self.loss(outputs, self.targets(targets))
        return self.postprocess(outputs)  # the detections of each image

    def grid_features(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each level's input to the category and kernel branches: P2 at P3's size and P6 at
        P5's (as SOLO's ``resize_feats``), the coordinate channels appended, resized
        (bilinear) to ``S_l x S_l``: ``(N, F + 2, S_l, S_l)`` per level."""
        sizes = [lvl.shape[-2:] for lvl in levels]
        out = []
        for i, (level, s) in enumerate(zip(levels, self.grid_sizes, strict=True)):
            if i == 0:  # P2 down to P3's size
                level = F.interpolate(level, size=sizes[1], mode="bilinear", align_corners=False)
            elif i == len(levels) - 1:  # P6 up to P5's size
                level = F.interpolate(level, size=sizes[-2], mode="bilinear",
                                      align_corners=False)
            out.append(F.interpolate(with_coordinates(level), size=(s, s), mode="bilinear",
                                     align_corners=False))
        return out

    def head_outputs(self, images: list[torch.Tensor]) -> dict:
        """The network's raw outputs for a list of ``(3, H_i, W_i)`` images in ``[0, 1]``.

        Returns a dict: ``category_logits (N, G, C - 1)`` and ``kernels (N, G, E)`` for the
        ``G = sum S_l^2`` cells (level after level, each row-major), ``mask_features
        (N, E, H/4, W/4)``, ``image_sizes`` (each image's ``(H_i, W_i)``) and ``batch_size``,
        the padded ``(H, W)``.
        """
        check_image_list(images)
        # 1. normalised, padded batch and its pyramid P2 .. P6
        x = self._batch(images)  # (N, 3, H, W)
        levels = list(self.backbone(x).values())  # (N, F, H/4, W/4) .. (N, F, H/64, W/64)
        # 2. the mask features, shared by every instance
        mask_features = self.mask_feature(levels[:4])  # (N, E, H/4, W/4)
        # 3. per level, on its S x S grid: class logits (no coordinates) and kernels
        category_logits, kernels = [], []
        for grid in self.grid_features(levels):  # (N, F + 2, S, S)
            logits = self.category_branch(grid[:, :-2])  # (N, C - 1, S, S)
            category_logits.append(logits.flatten(2).transpose(1, 2))  # (N, S^2, C - 1)
            kernels.append(self.kernel_branch(grid).flatten(2).transpose(1, 2))  # (N, S^2, E)
        return {"category_logits": torch.cat(category_logits, dim=1),
                "kernels": torch.cat(kernels, dim=1), "mask_features": mask_features,
                "image_sizes": [tuple(image.shape[-2:]) for image in images],
                "batch_size": tuple(x.shape[-2:])}

    # -- the family's methods (segedu.models.top_down.base) ------------------------------------
    def targets(self, targets: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """The batch's ground truth as :meth:`loss` needs it: each image's dict (``boxes``,
        ``labels`` in ``1 .. C - 1``, ``masks (M, H_i, W_i)``), its masks zero-padded to the
        batch's :meth:`padded_size` as ``forward`` pads the images, encoded by
        :func:`.targets.solov2_targets`: ``grid_labels (G,)``, ``positive (P,)``,
        ``mask_targets (P, H/4, W/4)``, on the device of the given masks.

        The checks and the encoding run on the CPU: they read a few numbers per object and
        level (the scale, the centre of mass, the box), each read a synchronisation on a GPU
        (about 3,000 for a batch of 32 scenes); the encoded targets are then moved back."""
        if not isinstance(targets, (list, tuple)) or not targets:
            raise ValueError("targets must be a non-empty list of one dict per image")
        check_box_targets(targets, needed=("boxes", "labels", "masks"))  # before any indexing
        device = targets[0]["masks"].device
        targets = [{k: t[k].cpu() for k in ("boxes", "labels", "masks")} for t in targets]
        for i, t in enumerate(targets):
            if t["masks"].ndim != 3 or len(t["masks"]) != len(t["boxes"]):
                raise ValueError(f"targets[{i}]['masks'] must be (M, H, W) with M = "
                                 f"{len(t['boxes'])}, got {tuple(t['masks'].shape)}")
            if len(t["labels"]) and (t["labels"].min() < 1
                                     or t["labels"].max() >= self.num_classes):
                raise ValueError(f"targets[{i}]['labels'] must be in 1 .. {self.num_classes - 1}"
                                 f" (0 is the background), got {t['labels'].tolist()}")
        height, width = self.padded_size([tuple(t["masks"].shape[-2:]) for t in targets])
        encoded = []
        for t in targets:
            masks = t["masks"]
            masks = F.pad(masks, (0, width - masks.shape[-1], 0, height - masks.shape[-2]))
            image = solov2_targets(t["boxes"], t["labels"], masks, grid_sizes=self.grid_sizes,
                                   scale_ranges=self.scale_ranges,
                                   center_sampling=self.center_sampling, mask_stride=MASK_STRIDE)
            encoded.append({k: v.to(device, non_blocking=True) for k, v in image.items()})
        return encoded

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]) -> dict:
        """``{"loss_category", "loss_mask"}`` of :meth:`head_outputs`' dict against
        :meth:`targets`' list (:func:`.loss.solov2_loss`, with the model's ``loss_weights``)."""
        missing = {"category_logits", "kernels", "mask_features"} - set(outputs)
        if missing:
            raise ValueError(f"outputs lacks {sorted(missing)} (see SOLOv2.head_outputs)")
        return solov2_loss(outputs["category_logits"], outputs["kernels"],
                           outputs["mask_features"], targets, **self.loss_weights)

    @torch.no_grad()
    def postprocess(self, outputs: dict, **options) -> list[dict[str, torch.Tensor]]:
        """The detections of :meth:`head_outputs`' dict, one dict per image (``boxes``,
        ``scores``, ``labels``, ``masks (n, 1, H_i, W_i)`` probabilities; best first); the
        keyword-only ``options`` override the model's inference options
        (``.postprocess.INFERENCE_OPTIONS``)."""
        settings = _options("options", options, self.inference)
        return [solov2_detections(outputs["category_logits"][i], outputs["kernels"][i],
                                  outputs["mask_features"][i], grid_sizes=self.grid_sizes,
                                  strides=self.strides, image_size=size,
                                  batch_size=outputs["batch_size"], **settings)
                for i, size in enumerate(outputs["image_sizes"])]


def _options(what: str, given: dict | None, known: dict) -> dict:
    """``known`` overridden by ``given``; ``ValueError`` naming any unknown key."""
    given = dict(given or {})
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; known: {sorted(known)}")
    return {**known, **given}


@register_model("solov2")
def solov2(*, num_classes: int = 4, **kwargs) -> SOLOv2:
    """A slim SOLOv2 for the 128x128 synthetic scenes (keyword arguments of :class:`SOLOv2`).

    Defaults: ResNet-18 of width 32, FPN of 64 channels, towers of 2 convolutions of 64, mask
    features of E = 64 channels, grids of 12, 10, 8, 6, 4 cells, scale ranges (1, 16) ..
    (64, 256) pixels, 4 classes (background, circle, rectangle, triangle): 3,269,923
    parameters.
    """
    return SOLOv2(num_classes=num_classes, **kwargs)


@register_model("solov2_resnet50_fpn")
def solov2_resnet50_fpn(*, num_classes: int = 81, **kwargs) -> SOLOv2:
    """The paper's SOLOv2 on ResNet-50-FPN (no official weights in segedu; mmdetection's
    ``solov2_r50_fpn_1x_coco`` configuration).

    ResNet-50, 256-channel FPN, category and kernel towers of 4 convolutions of 512, mask
    features of 128 hidden and E = 256 channels, grids of 40, 36, 24, 16, 12 cells, the
    paper's scale ranges, GroupNorm of 32 groups, COCO's 80 classes + background:
    46,592,912 parameters.
    """
    defaults = dict(backbone="resnet50", backbone_width=64, fpn_channels=256, head_channels=512,
                    num_convs=4, mask_hidden_channels=128, kernel_channels=256,
                    grid_sizes=(40, 36, 24, 16, 12), scale_ranges=PAPER_SCALE_RANGES,
                    num_groups=32)
    return SOLOv2(num_classes=num_classes, **{**defaults, **kwargs})
