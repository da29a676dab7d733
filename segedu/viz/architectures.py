"""The structure of each model family, for :mod:`segedu.viz.diagram`.

:func:`architecture` returns a :class:`~segedu.viz.diagram.Structure` for a segedu model: which
submodules are blocks, how they connect and where each sits on the layout grid. It reads only the
model's *structure* (how many levels, which heads exist); every shape and parameter count is
recorded later by running the model. Layouts per family:

- a **U** for encoder-decoders (:func:`unet_structure`, :func:`segnet_structure`): the encoder
  steps down a row per level, the decoder climbs back, skips run horizontally between them;
- a **chain** with **branches** for the context modules (PSPNet's pyramid pooling, DeepLab's
  ASPP) and FCN's score layers fused at three strides;
- a **pyramid** for FPN backbones (the bottom-up stages in one column, the levels beside them,
  a bus from the levels to the heads) and **stages** for the detectors behind it (RPN, RoI heads);
- **three parts** for SAM (image encoder, prompt encoder, mask decoder);
- DETR's ResNet in a row, its transformer below it, where the position code and the object
  queries enter (:func:`detr_structure`);
- EoMT's ViT in a row, the queries entering before its last blocks, the prediction head
  after them (:func:`eomt_structure`);
- SegFormer's four encoder stages in a row, each one's map projected by the decoder's per-pixel
  MLP in a column beside them, all four fused (:func:`segformer_structure`);
- DINOv2's ViT with its class token, positions and registers entering (:func:`dinov2_structure`),
  and the linear probe on its frozen patch tokens (:func:`linear_probe_structure`);
- CLIPSeg's image encoder in a row, the decoder climbing back below it from the deepest
  extracted layer (the shallower ones added), the text prompt entering at FiLM
  (:func:`clipseg_structure`);
- SAM 2's image encoder, memory attention and SAM head in a row, the memory encoder, object
  pointer and memory bank above them, looping back into the memory attention
  (:func:`sam2_structure`).
"""

from __future__ import annotations

from torch import nn

from ..models.bottom_up.cellpose.model import Cellpose
from ..models.bottom_up.spatial_embedding.model import SpatialEmbedding
from ..models.bottom_up.stardist.model import StarDist
from ..models.foundation.clipseg import CLIPSeg
from ..models.foundation.dinov2 import Dinov2, LinearProbe
from ..models.foundation.sam.sam import Sam
from ..models.foundation.sam2 import Sam2
from ..models.semantic.deeplabv3plus import DeepLabV3Plus
from ..models.semantic.fcn_resnet import DilatedResNetSegmenter
from ..models.semantic.fcn_vgg import FCN
from ..models.semantic.heads import ASPP
from ..models.semantic.pspnet import PyramidPoolingModule
from ..models.semantic.segformer import Segformer
from ..models.semantic.segnet import SegNet
from ..models.semantic.unet import UNet
from ..models.top_down.detection.generalized_rcnn import GeneralizedRCNN
from ..models.top_down.yolact.model import Yolact
from ..models.top_down.yolo_grid import YoloGrid
from ..models.universal.detr.model import DETR
from ..models.universal.eomt.model import Eomt
from ..models.universal.mask2former.model import Mask2Former
from ..nn.resnet import ResNet
from ..nn.vit import VisionTransformer
from .diagram_structure import Block, Bus, Edge, Structure

__all__ = ["architecture", "unet_structure", "segnet_structure", "resnet_blocks"]


def _chain(names: list[str]) -> list[Edge]:
    return [Edge(a, b) for a, b in zip(names, names[1:], strict=False)]


def _stage_groups(sequential: nn.Sequential, prefix: str) -> list[tuple[str, tuple[str, ...]]]:
    """VGG-style ``features``: the layers up to and including each max pooling, as
    ``(path of the pooling, paths of the group's layers)``."""
    groups, current = [], []
    for index, layer in enumerate(sequential):
        current.append(f"{prefix}{index}")
        if isinstance(layer, nn.MaxPool2d):
            groups.append((current[-1], tuple(current)))
            current = []
    return groups


def resnet_blocks(resnet: ResNet, prefix: str, *, at, step=(1, 0),
                  names=("stem", "layer1", "layer2", "layer3", "layer4")) -> list[Block]:
    """A ResNet's stem (convolution, norm, pooling) and its four stages as blocks, the first at
    ``at``, each next one ``step`` further on the grid."""
    paths = [f"{prefix}maxpool", *(f"{prefix}layer{i}" for i in range(1, 5))]
    params = [(f"{prefix}conv1", f"{prefix}bn1"), *((p,) for p in paths[1:])]
    return [Block(name, (at[0] + i * step[0], at[1] + i * step[1]), module=path, params=p)
            for i, (name, path, p) in enumerate(zip(names, paths, params, strict=True))]


# -- semantic segmentation ------------------------------------------------------------------------

def fcn_vgg_structure(model: FCN) -> Structure:
    """FCN-32s/16s/8s: VGG16's five pooled stages and fc6/fc7 in a row; the score layers below;
    the fusion path (x2 up-sampling plus a finer score, added) along the bottom."""
    stages = _stage_groups(model.features, "features.")
    blocks = [Block("image", (0, 0), module="features.0", read="input", pick=(0,))]
    for i, (path, group) in enumerate(stages):
        blocks.append(Block(f"pool{i + 1}", (i + 1, 0), module=path, params=group))
    blocks += [Block("fc6", (6, 0), module="fc6"), Block("fc7", (7, 0), module="fc7"),
               Block("score_fr", (7, 1), module="score_fr")]
    edges = _chain([b.name for b in blocks])  # image .. fc7, then down to score_fr
    last, col = "score_fr", 6
    for up, score, pool in [("upscore2", "score_pool4", "pool4"),
                            ("upscore_pool4", "score_pool3", "pool3")][:model.skips]:
        pool_col = int(pool[-1])
        blocks.append(Block(score, (pool_col, 1), module=score))
        blocks.append(Block(up, (col, 2), module=up))
        edges += [Edge(pool, score), Edge(last, up)]
        last, col = up, pool_col
    blocks.append(Block("upscore", (col, 2), module="upscore"))
    edges.append(Edge(last, "upscore"))
    blocks.append(Block("scores", (col - 1, 2), module="", pick=("out",)))
    edges.append(Edge("upscore", "scores"))
    # a finer score is added to the up-sampled scores before the next up-sampling
    fused = [("score_pool4", "upscore_pool4" if model.skips == 2 else "upscore"),
             ("score_pool3", "upscore")][:model.skips]
    edges += [Edge(score, target, "add") for score, target in fused]
    return Structure(tuple(blocks), tuple(edges))


def _resnet_head_structure(model: DilatedResNetSegmenter) -> Structure:
    """A dilated ResNet, then an FCN head, PSPNet's pyramid pooling or DeepLabv3's ASPP on
    layer 4 (branches in one column), the up-sampled scores, and the auxiliary head on layer 3."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = _chain([b.name for b in blocks])
    head, col = model.classifier, 6
    context = head[0] if isinstance(head, nn.Sequential) else None
    if isinstance(context, (PyramidPoolingModule, ASPP)):
        pooling = isinstance(context, PyramidPoolingModule)
        branches = context.stages if pooling else context.convs
        n = len(branches)
        names = []
        for i, _ in enumerate(branches):
            if pooling:
                name = f"pool {context.bins[i]}×{context.bins[i]}"
            else:
                name = ("1×1 conv" if i == 0 else "image pool" if i == n - 1
                        else f"rate {_rate(branches[i])}")
            kind = "stages" if pooling else "convs"
            blocks.append(Block(name, (col, _branch_row(i, n)), module=f"classifier.0.{kind}.{i}"))
            # the branches' maps are concatenated (ASPP then projects them)
            edges += _branch_edges("layer4", name, "PPM" if pooling else "ASPP",
                                   _branch_row(i, n), "concat")
            names.append(name)
        merged = "PPM" if pooling else "ASPP"
        # the branches hold the pyramid pooling's weights; ASPP adds its projection
        blocks.append(Block(merged, (col + 1, 0), module="classifier.0",
                            params=() if pooling else ("classifier.0.project",)))
        if pooling:
            edges.append(Edge("layer4", merged, "concat"))
        rest = tuple(f"classifier.{i}" for i in range(1, len(head)))
        blocks.append(Block("head", (col + 2, 0), module=f"classifier.{len(head) - 1}",
                            params=rest))
        edges.append(Edge(merged, "head"))
        col += 3
    else:
        blocks.append(Block("FCN head", (col, 0), module="classifier"))
        edges.append(Edge("layer4", "FCN head"))
        col += 1
    last = blocks[-1].name
    blocks.append(Block("scores", (col, 0), module="", pick=("out",)))
    edges.append(Edge(last, "scores"))
    if model.aux_classifier is not None:
        aux_row = 2.5 if isinstance(context, (PyramidPoolingModule, ASPP)) else 1
        blocks.append(Block("aux head", (5, aux_row), module="aux_classifier"))
        edges.append(Edge("layer3", "aux head", elbow="vh"))
    return Structure(tuple(blocks), tuple(edges))


def _branch_row(i: int, n: int) -> float:
    """The row of branch ``i`` of ``n`` parallel branches, centred on the main row 0 but never on
    it (an odd count moves up half a row): a branch drawn on the main row reads as a step of the
    data path, not as one of the parallel branches."""
    return i - (n - 1) / 2 - (0.5 if n % 2 else 0.0)


def _branch_edges(source: str, branch: str, merge: str, row: float,
                  kind: str = "flow") -> list[Edge]:
    """A parallel branch between ``source`` and ``merge`` (both on row 0): off the source's
    vertical trunk, into the merge's; the middle branch runs straight."""
    if row == 0:
        return [Edge(source, branch), Edge(branch, merge, kind)]
    return [Edge(source, branch, elbow="vh"), Edge(branch, merge, kind, elbow="hv")]


def _rate(branch: nn.Module) -> int:
    for layer in branch.modules():
        if isinstance(layer, nn.Conv2d) and layer.dilation[0] > 1:
            return layer.dilation[0]
    return 1


def deeplabv3plus_structure(model: DeepLabV3Plus) -> Structure:
    """DeepLabv3+: the backbone, ASPP's branches, and the decoder that fuses the up-sampled
    context with reduced layer-1 features (concatenated)."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = _chain([b.name for b in blocks])
    aspp = model.decoder.aspp[0]
    n = len(aspp.convs)
    for i, branch in enumerate(aspp.convs):
        name = "1×1 conv" if i == 0 else "image pool" if i == n - 1 else f"rate {_rate(branch)}"
        blocks.append(Block(name, (6, _branch_row(i, n)), module=f"decoder.aspp.0.convs.{i}"))
        edges += _branch_edges("layer4", name, "ASPP", _branch_row(i, n), "concat")
    last = len(model.decoder.aspp) - 1
    after = tuple(f"decoder.aspp.{i}" for i in range(1, last + 1))  # the branches counted above
    blocks += [Block("ASPP", (7, 0), module=f"decoder.aspp.{last}",
                     params=("decoder.aspp.0.project", *after)),
               Block("reduce", (2, 3), module="decoder.reduce_low_level"),
               Block("fuse", (8, 3), module="decoder.fuse"),
               Block("classifier", (9, 3), module="classifier"),
               Block("scores", (10, 3), module="", pick=("out",))]
    edges += [Edge("layer1", "reduce"), Edge("reduce", "fuse", "concat"),
              Edge("ASPP", "fuse", elbow="hv"),
              Edge("fuse", "classifier"), Edge("classifier", "scores")]
    return Structure(tuple(blocks), tuple(edges))


def segformer_structure(model: Segformer) -> Structure:
    """SegFormer: the Mix Transformer's stages in a row (each an overlapping patch embedding and
    its blocks, halving the resolution); the all-MLP decoder beside them: a per-pixel linear
    layer for each stage's map (deepest on top, tokens ``(h w, D)``), all four up-sampled and
    fused by a 1x1 convolution, then the classifier; the scores up-sampled to the image."""
    n = len(model.encoder.stages)
    stages = [f"stage {i + 1}" for i in range(n)]
    mlps = [f"MLP {i + 1}" for i in range(n)]
    blocks = [Block("image", (0, 0), module="encoder", read="input", pick=(0,))]
    blocks += [Block(name, (i + 1, 0), module=f"encoder.stages.{i}")
               for i, name in enumerate(stages)]
    blocks += [Block(name, (n + 1, n - 1 - i), module=f"decode_head.projections.{i}")
               for i, name in enumerate(mlps)]
    blocks += [Block("fuse", (n + 2, (n - 1) / 2), module="decode_head.fuse",
                     params=("decode_head.fuse", "decode_head.norm")),
               Block("classifier", (n + 3, (n - 1) / 2), module="decode_head.classifier"),
               Block("scores", (n + 4, (n - 1) / 2), module="", pick=("out",))]
    edges = _chain(["image", *stages])
    edges += [Edge(stage, mlp, elbow=None if i == n - 1 else "vh")
              for i, (stage, mlp) in enumerate(zip(stages, mlps, strict=True))]
    edges += [Edge("fuse", "classifier"), Edge("classifier", "scores")]
    groups = (("Mix Transformer encoder", tuple(stages)),
              ("all-MLP decoder", (*mlps, "fuse", "classifier")))
    return Structure(tuple(blocks), tuple(edges), (Bus(tuple(mlps), ("fuse",)),), groups)


def unet_structure(model: UNet, prefix: str = "", *, head: bool = True) -> Structure:
    """A U: ``inc`` and each level of ``downs`` one row lower, ``ups`` climbing back, each skip
    concatenated horizontally into the decoder block of its level, and the 1x1 ``head``."""
    depth, ups = len(model.downs), len(model.ups)
    blocks = [Block("image", (0, 0), module=f"{prefix}inc", read="input", pick=(0,)),
              Block("inc", (1, 0), module=f"{prefix}inc")]
    encoder = ["inc"]
    for i in range(depth):
        name = f"down{i + 1}"
        blocks.append(Block(name, (2 + i, 1 + i), module=f"{prefix}downs.{i}"))
        encoder.append(name)
    edges = _chain(["image", *encoder])
    last = encoder[-1]
    for k in range(ups):
        level = depth - 1 - k  # the encoder level whose map it receives
        name = f"up{level + 1}"
        blocks.append(Block(name, (2 + depth + k, max(level, 0)), module=f"{prefix}ups.{k}"))
        edges.append(Edge(last, name))
        if 0 <= level < len(encoder):
            edges.append(Edge(encoder[level], name, "concat"))
        last = name
    if head and not isinstance(model.head, nn.Identity):
        blocks.append(Block("head", (2 + depth + ups, 0), module=f"{prefix}head"))
        edges.append(Edge(last, "head", elbow="hv" if ups < depth else None))
    return Structure(tuple(blocks), tuple(edges))


def segnet_structure(model: SegNet) -> Structure:
    """SegNet's U: the VGG16-BN encoder's five pooled stages stepping down, the decoders climbing
    back, each unpooling with the pooling indices of its mirror stage."""
    stages = _stage_groups(model.encoder, "encoder.")
    n = len(stages)
    blocks = [Block("image", (0, 0), module="encoder.0", read="input", pick=(0,))]
    for i, (path, group) in enumerate(stages):
        pooling = model.get_submodule(path)  # returns (maps, indices) when it keeps the indices
        blocks.append(Block(f"enc{i + 1}", (i, i + 1), module=path, params=group,
                            pick=(0,) if pooling.return_indices else ()))
    edges = [Edge("image", "enc1")] + _chain([f"enc{i + 1}" for i in range(n)])
    last = f"enc{n}"
    for j in range(len(model.decoders)):
        mirror = n - j  # decoder j unpools with the indices of stage n - j
        name = f"dec{mirror}"
        blocks.append(Block(name, (n + 1 + j, mirror), module=f"decoders.{j}"))
        edges += [Edge(last, name), Edge(f"enc{mirror}", name, "indices")]
        last = name
    blocks.append(Block("classifier", (n + len(model.decoders), 0), module="classifier"))
    edges.append(Edge(last, "classifier"))
    return Structure(tuple(blocks), tuple(edges))


# -- detection and instances ----------------------------------------------------------------------

def yolo_grid_structure(model: YoloGrid) -> Structure:
    """YOLO's grid: a ResNet, the head's convolution, and the ``S x S`` grid of cell
    predictions."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    blocks += [Block("head conv", (6, 0), module="head.conv"),
               Block("head out", (7, 0), module="head.out"),
               Block("grid", (8, 0), module="head", params=())]
    return Structure(tuple(blocks), tuple(_chain([b.name for b in blocks])))


def _pyramid(model: nn.Module, prefix: str) -> tuple[list[Block], list[Edge], list[str]]:
    """A ResNet with an FPN: the stages in column 1 (deepest on top), the pyramid levels in
    column 2 beside the stage each comes from, extra levels above them."""
    backbone = model.get_submodule(prefix.rstrip("."))
    body, fpn = backbone.body, backbone.fpn
    stages = backbone.returned_stages
    blocks = [Block("image", (0, 5), module=f"{prefix}body.conv1", read="input", pick=(0,))]
    names = [b for b in resnet_blocks(body, f"{prefix}body.", at=(1, 5), step=(0, -1))]
    blocks += names
    edges = _chain([b.name for b in blocks])
    levels = []
    for i, stage in enumerate(stages):
        name = f"P{stage + 1}"
        params = (f"{prefix}fpn.inner_blocks.{i}", f"{prefix}fpn.layer_blocks.{i}")
        blocks.append(Block(name, (2, 5 - stage), module=f"{prefix}fpn", pick=(str(i),),
                            params=params))
        edges.append(Edge(f"layer{stage}", name))
        levels.append(name)
    for deeper, finer in zip(levels[::-1], levels[::-1][1:], strict=False):
        edges.append(Edge(deeper, finer, "add"))
    extra = getattr(fpn, "extra_blocks", None)
    keys = list(_fpn_extra_keys(fpn))
    for j, key in enumerate(keys):
        name = f"P{stages[-1] + 2 + j}"
        params = (f"{prefix}fpn.extra_blocks",) if extra is not None else ()
        blocks.append(Block(name, (2, 4 - stages[-1] - j), module=f"{prefix}fpn", pick=(key,),
                            params=params if j == 0 else ()))
        edges.append(Edge(levels[-1], name))
        levels.append(name)
    return blocks, edges, levels


def _fpn_extra_keys(fpn: nn.Module) -> list[str]:
    """The output names of an FPN's extra levels: ``"pool"`` (max pooling) or ``"p6", "p7"``."""
    return [] if fpn.extra_blocks is None else list(fpn.extra_blocks.names)


def rcnn_structure(model: GeneralizedRCNN) -> Structure:
    """Faster R-CNN and Mask R-CNN (and Panoptic FPN): the pyramid, then the stages: the RPN
    (shared over the levels), its proposals, RoIAlign and the box head; RoIAlign and the mask head
    on the detected boxes; Panoptic FPN's semantic head on the levels."""
    blocks, edges, levels = _pyramid(model, "backbone.")
    roi = model.roi_heads
    blocks += [Block("RPN head", (3, -1), module="rpn.head", pick=(0, 0)),
               Block("proposals", (4, -1), module="rpn", pick=(0, 0), batched=False, params=()),
               Block("RoIAlign", (3, 1.5), module="roi_heads.box_roi_pool", batched=False),
               Block("box head", (4, 1.5), module="roi_heads.box_head", batched=False),
               Block("classes", (5, 1), module="roi_heads.box_predictor", pick=(0,),
                     batched=False, params=("roi_heads.box_predictor.cls_score",)),
               Block("box deltas", (5, 2), module="roi_heads.box_predictor", pick=(1,),
                     batched=False, params=("roi_heads.box_predictor.bbox_pred",))]
    edges += [Edge("RPN head", "proposals"), Edge("proposals", "RoIAlign"),
              Edge("RoIAlign", "box head"), Edge("box head", "classes"),
              Edge("box head", "box deltas")]
    targets = ["RPN head", "RoIAlign"]
    groups = [("stage 1: RPN (objectness shown for P2)", ("RPN head", "proposals")),
              ("stage 2: boxes, per RoI", ("RoIAlign", "box head", "classes", "box deltas"))]
    if getattr(roi, "mask_head", None) is not None:
        blocks += [Block("mask RoIAlign", (3, 3.5), module="roi_heads.mask_roi_pool",
                         batched=False),
                   Block("mask head", (4, 3.5), module="roi_heads.mask_head", batched=False),
                   Block("mask logits", (5, 3.5), module="roi_heads.mask_predictor",
                         batched=False)]
        edges += [Edge("box deltas", "mask RoIAlign"), Edge("mask RoIAlign", "mask head"),
                  Edge("mask head", "mask logits")]
        targets.append("mask RoIAlign")
        groups.append(("masks, per detected box",
                       ("mask RoIAlign", "mask head", "mask logits")))
    if getattr(model, "semantic_head", None) is not None:
        blocks.append(Block("semantic head", (3, 5), module="semantic_head"))
        targets.append("semantic head")
    sources = tuple(levels)
    return Structure(tuple(blocks), tuple(edges), (Bus(sources, tuple(targets)),),
                     tuple(groups))


def yolact_structure(model: Yolact) -> Structure:
    """YOLACT: the pyramid; the prediction head shared by the levels (classes, boxes, mask
    coefficients per anchor); ProtoNet's prototypes from the finest level; the masks, a linear
    combination of prototypes by coefficients."""
    blocks, edges, levels = _pyramid(model, "backbone.")
    blocks += [Block("head", (3, 0), module="head.upfeature"),
               Block("classes", (4, -1), module="head", pick=(0,), params=("head.class_conv",)),
               Block("boxes", (4, 0), module="head", pick=(1,), params=("head.box_conv",)),
               Block("coefficients", (4, 1), module="head", pick=(2,),
                     params=("head.coef_conv",)),
               Block("ProtoNet", (3, 4), module="protonet"),
               Block("masks", (5, 2), module="", pick=(0, "masks"), batched=False, params=())]
    edges += [Edge(levels[0], "ProtoNet", elbow="vh"), Edge("head", "classes"),
              Edge("head", "boxes"), Edge("head", "coefficients"), Edge("coefficients", "masks"),
              Edge("ProtoNet", "masks")]
    return Structure(tuple(blocks), tuple(edges), (Bus(tuple(levels), ("head",)),))


# -- bottom-up instances --------------------------------------------------------------------------

def _unet_with_heads(model: nn.Module, prefix: str, heads: list[tuple[str, str]]) -> Structure:
    u = unet_structure(model.get_submodule(prefix.rstrip(".")), prefix, head=False)
    depth = len(model.get_submodule(prefix.rstrip(".")).downs)
    last = u.blocks[-1].name
    blocks, edges = list(u.blocks), list(u.edges)
    col = 2 + 2 * depth
    for row, (name, path) in enumerate(heads):
        blocks.append(Block(name, (col, row), module=path))
        edges.append(Edge(last, name, elbow="vh" if row else None))  # down, then into the head
    return Structure(tuple(blocks), tuple(edges))


def stardist_structure(model: StarDist) -> Structure:
    """StarDist: a U-Net, a feature layer, and two heads: object probability and the distances
    along ``n_rays`` rays."""
    u = unet_structure(model.backbone, "backbone.", head=False)
    depth = len(model.backbone.downs)
    col = 2 + 2 * depth
    blocks = list(u.blocks) + [Block("features", (col, 0), module="features"),
                               Block("probability", (col + 1, 0), module="prob_head"),
                               Block("distances", (col + 1, 1), module="dist_head")]
    edges = list(u.edges) + [Edge(u.blocks[-1].name, "features"), Edge("features", "probability"),
                             Edge("features", "distances", elbow="vh")]
    return Structure(tuple(blocks), tuple(edges))


def cellpose_structure(model: Cellpose) -> Structure:
    """Cellpose: a U-Net whose head gives the two flow components and the cell probability."""
    return unet_structure(model.unet, "unet.")


def spatial_embedding_structure(model: SpatialEmbedding) -> Structure:
    """Spatial embeddings: a U-Net and three heads (offsets, bandwidths, seediness)."""
    return _unet_with_heads(model, "backbone.", [("offsets", "offset_head"),
                                                 ("sigma", "sigma_head"),
                                                 ("seed map", "seed_head")])


# -- universal and foundation models --------------------------------------------------------------

def mask2former_structure(model: Mask2Former) -> Structure:
    """Mask2Former: the ResNet pyramid; the pixel decoder (a deformable-attention encoder on the
    three coarser maps, then the stride-4 mask features); the transformer decoder, where the
    learned queries enter and attend (masked) to one level per layer; class logits and masks."""
    head = "sem_seg_head."
    blocks = [Block("image", (0, 4), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 4), step=(0, -1),
                            names=("stem", "res2", "res3", "res4", "res5"))
    edges = _chain([b.name for b in blocks])
    decoder = model.sem_seg_head.pixel_decoder
    blocks.append(Block("deformable encoder", (2, 1), module=f"{head}pixel_decoder.transformer",
                        pick=(0,), params=(f"{head}pixel_decoder.input_proj",
                                           f"{head}pixel_decoder.transformer")))
    edges += [Edge(r, "deformable encoder") for r in ("res3", "res4", "res5")]
    scales = []
    for i in range(decoder.num_levels):
        name = f"level {i + 1}"
        blocks.append(Block(name, (3, i), module=f"{head}pixel_decoder", pick=(1, i), params=()))
        edges.append(Edge("deformable encoder", name))
        scales.append(name)
    blocks.append(Block("mask features", (3, 3), module=f"{head}pixel_decoder", pick=(0,),
                        params=(f"{head}pixel_decoder.adapter_1", f"{head}pixel_decoder.layer_1",
                                f"{head}pixel_decoder.mask_features")))
    edges += [Edge("res2", "mask features", "add"), Edge(scales[-1], "mask features")]
    predictor = model.sem_seg_head.predictor
    layers = len(predictor.transformer_cross_attention_layers)
    blocks += [Block("queries", (4, -1), parameter=f"{head}predictor.query_feat.weight",
                     params=(f"{head}predictor.query_feat", f"{head}predictor.query_embed")),
               Block(f"{layers} decoder layers", (4, 1),
                     module=f"{head}predictor.transformer_ffn_layers.{layers - 1}",
                     params=(f"{head}predictor.transformer_self_attention_layers",
                             f"{head}predictor.transformer_cross_attention_layers",
                             f"{head}predictor.transformer_ffn_layers",
                             f"{head}predictor.level_embed", f"{head}predictor.input_proj",
                             f"{head}predictor.decoder_norm")),
               Block("class logits", (5, 0), module="", pick=("pred_logits",),
                     params=(f"{head}predictor.class_embed",)),
               Block("mask embed", (5, 1.5), module=f"{head}predictor.mask_embed"),
               Block("masks", (5, 3), module="", pick=("pred_masks",), params=())]
    edges += [Edge(s, f"{layers} decoder layers") for s in scales]
    edges += [Edge("queries", f"{layers} decoder layers", "enter"),
              Edge(f"{layers} decoder layers", "class logits"),
              Edge(f"{layers} decoder layers", "mask embed"),
              Edge("mask embed", "masks"), Edge("mask features", "masks")]
    groups = (("pixel decoder", ("deformable encoder", *scales, "mask features")),)
    return Structure(tuple(blocks), tuple(edges), (), groups)


def eomt_structure(model: Eomt) -> Structure:
    """EoMT: a ViT in a row (patch embedding; the class token, registers and positions entering;
    the plain blocks), the learned queries entering before the last blocks (masked attention:
    each query reads its own mask's patches), then the shared prediction head: class logits and a
    mask embedding from the query tokens, up-scaled features from the patch tokens, their dot
    product the masks."""
    depth, masked = len(model.blocks), model.num_blocks
    plain = depth - masked
    registers = model.embeddings.register_tokens.shape[1]
    entering = f"class{f' + {registers} registers' if registers else ''} + positions"
    query_blocks = f"{masked} blocks with queries"
    blocks = [Block("image", (0, 0), module="embeddings.patch_embed", read="input", pick=(0,)),
              Block("patch embed", (1, 0), module="embeddings.patch_embed"),
              Block(entering, (2, -1), parameter="embeddings.pos_embed",
                    params=("embeddings.pos_embed", "embeddings.cls_token",
                            "embeddings.register_tokens")),
              Block("tokens", (2, 0), module="embeddings", params=()),
              Block("queries", (4, -1), parameter="query.weight", params=("query",)),
              Block(query_blocks, (4, 0), module=f"blocks.{depth - 1}",
                    params=tuple(f"blocks.{i}" for i in range(plain, depth))),
              Block("norm", (5, 0), module="norm"),
              Block("class logits", (6, -1), module="", pick=("pred_logits",),
                    params=("head.class_head",)),
              Block("mask embed", (6, 0), module="head.mask_head"),
              Block("upscaled patches", (6, 1), module="head.upscale"),
              Block("masks", (7, 0.5), module="", pick=("pred_masks",), params=())]
    edges = [Edge("image", "patch embed"), Edge("patch embed", "tokens"),
             Edge(entering, "tokens", "enter"), Edge("queries", query_blocks, "enter"),
             Edge(query_blocks, "norm"), Edge("norm", "class logits"), Edge("norm", "mask embed"),
             Edge("norm", "upscaled patches"), Edge("mask embed", "masks"),
             Edge("upscaled patches", "masks")]
    if plain:  # the ViT's first blocks, without queries
        blocks.append(Block(f"{plain} blocks", (3, 0), module=f"blocks.{plain - 1}",
                            params=tuple(f"blocks.{i}" for i in range(plain))))
        edges += [Edge("tokens", f"{plain} blocks"), Edge(f"{plain} blocks", query_blocks)]
    else:
        edges.append(Edge("tokens", query_blocks))
    groups = (("prediction head", ("class logits", "mask embed", "upscaled patches")),)
    return Structure(tuple(blocks), tuple(edges), (), groups)


def detr_structure(model: DETR) -> Structure:
    """DETR: the ResNet's stem and stages in a row, the 1x1 projection of the last stage, then the
    transformer below it: the encoder over the pixels and the decoder, where the learned object
    queries enter from above and the pixels' sine code (added to the queries and keys of every
    attention) from below; the class and box heads on the decoder's output."""
    encoder_layers, decoder_layers = len(model.transformer.encoder), len(model.transformer.decoder)
    decoder = f"{decoder_layers} decoder layers"
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = _chain([b.name for b in blocks])
    blocks += [Block("projection", (6, 0), module="input_proj"),
               Block("positions", (6, 3), module="position_embedding"),
               Block("queries", (7, 0), parameter="query_embed.weight", params=("query_embed",)),
               Block(decoder, (7, 1.5), module=f"transformer.decoder.{decoder_layers - 1}",
                     params=("transformer.decoder", "transformer.decoder_norm")),
               Block("classes", (8, 1), module="", pick=("pred_logits",), params=("class_embed",)),
               Block("boxes", (8, 2), module="", pick=("pred_boxes",), params=("bbox_embed",))]
    edges += [Edge("layer4", "projection"), Edge("queries", decoder, "enter"),
              Edge("positions", decoder, "enter", elbow="hv"),
              Edge(decoder, "classes"), Edge(decoder, "boxes")]
    if encoder_layers:  # DETR runs without an encoder too (the paper's ablation, Table 2)
        encoder = f"{encoder_layers} encoder layers"
        blocks.append(Block(encoder, (6, 1.5), module=f"transformer.encoder.{encoder_layers - 1}",
                            params=("transformer.encoder",)))
        edges += [Edge("projection", encoder), Edge(encoder, decoder),
                  Edge("positions", encoder, "enter")]
    else:
        edges.append(Edge("projection", decoder, elbow="vh"))
    groups = (("ResNet backbone", ("stem", "layer1", "layer2", "layer3", "layer4")),)
    return Structure(tuple(blocks), tuple(edges), (), groups)


def sam_structure(model: Sam) -> Structure:
    """SAM's three parts: the ViT image encoder (patch embedding, blocks, neck); the prompt
    encoder (sparse point/box embeddings, the dense mask embedding); the mask decoder (output
    tokens, a two-way transformer, up-scaling, one hypernetwork MLP per mask, the IoU head)."""
    n = len(model.image_encoder.blocks)
    hypernets = f"{len(model.mask_decoder.output_hypernetworks_mlps)} hypernet MLPs"
    blocks = [Block("image", (0, 0), module="image_encoder", read="input", pick=(0,)),
              Block("patch embed", (1, 0), module="image_encoder.patch_embed"),
              Block(f"{n} ViT blocks", (2, 0), module=f"image_encoder.blocks.{n - 1}",
                    params=("image_encoder.blocks",) + (("image_encoder.pos_embed",) if
                            model.image_encoder.pos_embed is not None else ())),
              Block("neck", (3, 0), module="image_encoder.neck"),
              Block("points", (0, 2), module="prompt_encoder", read="input", pick=("points", 0)),
              Block("sparse", (1, 2), module="prompt_encoder", pick=(0,),
                    params=("prompt_encoder.point_embeddings", "prompt_encoder.not_a_point_embed")),
              Block("dense", (1, 3), module="prompt_encoder", pick=(1,),
                    params=("prompt_encoder.mask_downscaling", "prompt_encoder.no_mask_embed")),
              Block("output tokens", (4, -1), parameter="mask_decoder.mask_tokens.weight",
                    params=("mask_decoder.mask_tokens", "mask_decoder.iou_token")),
              Block("transformer", (4, 1), module="mask_decoder.transformer",
                    pick=(0,)),
              Block("upscaling", (5, 0), module="mask_decoder.output_upscaling"),
              Block(hypernets, (5, 1), module="mask_decoder.output_hypernetworks_mlps.0",
                    params=("mask_decoder.output_hypernetworks_mlps",)),
              Block("IoU head", (5, 2), module="mask_decoder.iou_prediction_head"),
              Block("masks", (6, 0.5), module="", pick=(0, "low_res_logits"))]
    edges = [Edge("image", "patch embed"), Edge("patch embed", f"{n} ViT blocks"),
             Edge(f"{n} ViT blocks", "neck"), Edge("points", "sparse"),
             Edge("neck", "transformer"), Edge("sparse", "transformer"),
             Edge("dense", "transformer", "add"),
             Edge("output tokens", "transformer", "enter"),
             Edge("transformer", "upscaling"), Edge("transformer", hypernets),
             Edge("transformer", "IoU head"),
             Edge("upscaling", "masks"), Edge(hypernets, "masks")]
    groups = (("image encoder", ("patch embed", f"{n} ViT blocks", "neck")),
              ("prompt encoder", ("sparse", "dense")),
              ("mask decoder", ("transformer", "upscaling", hypernets, "IoU head")))
    return Structure(tuple(blocks), tuple(edges), (), groups)


def sam2_structure(model: Sam2) -> Structure:
    """SAM 2 tracking objects through a clip (:meth:`Sam2.forward
    <segedu.models.foundation.sam2.Sam2.forward>`): the image encoder (Hiera, FPN neck) on every
    frame; the memory attention conditioning the stride-16 embedding on the memory bank; the SAM
    head (prompt encoder, mask decoder; the prompts enter on the first frame only); and the loop
    back: the memory encoder turns each frame's mask and embedding into a spatial memory, the
    mask token into an object pointer, and both join the bank that the next frame reads. The
    shapes are those of one frame (the first call of each part)."""
    n_slots = model.num_maskmem
    blocks = [Block("frames", (0, 0), module="image_encoder", read="input", pick=(0,)),
              Block("Hiera", (1, 0), module="image_encoder.trunk", pick=(3,)),
              Block("FPN neck", (2, 0), module="image_encoder.neck", pick=(0, 2)),
              Block("memory attention", (3, 0), module="memory_attention",
                    params=("memory_attention", "no_mem_embed", "no_mem_pos_enc")),
              Block("points", (3, 1), module="sam_prompt_encoder", read="input",
                    pick=("points", 0)),
              Block("prompt encoder", (4, 1), module="sam_prompt_encoder", pick=(0,),
                    params=("sam_prompt_encoder", "mask_downsample")),
              Block("mask decoder", (4, 0), module="sam_mask_decoder", pick=(0,)),
              Block("masks", (5, 0), module="", pick=(0,)),
              Block("object pointer", (5, -1), module="obj_ptr_proj",
                    params=("obj_ptr_proj", "no_obj_ptr")),
              Block("memory encoder", (4, -1), module="memory_encoder", pick=(0,)),
              Block(f"memory bank ({n_slots} slots)", (3, -2),
                    parameter="maskmem_tpos_enc", batched=False,
                    params=("maskmem_tpos_enc", "obj_ptr_tpos_proj", "no_obj_embed_spatial"))]
    bank = f"memory bank ({n_slots} slots)"
    edges = [Edge("frames", "Hiera"), Edge("Hiera", "FPN neck"),
             Edge("FPN neck", "memory attention"), Edge("memory attention", "mask decoder"),
             Edge("points", "prompt encoder"), Edge("prompt encoder", "mask decoder", "enter"),
             Edge("mask decoder", "masks"), Edge("mask decoder", "object pointer"),
             Edge("mask decoder", "memory encoder"),
             Edge("FPN neck", "memory encoder", elbow="vh"),
             Edge("memory encoder", bank), Edge("object pointer", bank, elbow="vh"),
             Edge(bank, "memory attention", "enter")]
    groups = (("image encoder", ("Hiera", "FPN neck")),
              ("SAM head", ("prompt encoder", "mask decoder")),
              ("memory", ("memory attention", "memory encoder", bank, "object pointer")))
    return Structure(tuple(blocks), tuple(edges), (), groups)


def vit_structure(model: VisionTransformer) -> Structure:
    """A ViT: patch embedding, the class token and position embeddings entering, the blocks at one
    resolution, the final norm."""
    n = len(model.blocks)
    blocks = [Block("image", (0, 0), module="patch_embed", read="input", pick=(0,)),
              Block("patch embed", (1, 0), module="patch_embed"),
              Block("positions", (2, -1), parameter="pos_embed", params=("pos_embed", "cls_token")),
              Block(f"{n} blocks", (2, 0), module=f"blocks.{n - 1}", params=("blocks",)),
              Block("norm", (3, 0), module="norm")]
    edges = [Edge("image", "patch embed"), Edge("patch embed", f"{n} blocks"),
             Edge("positions", f"{n} blocks", "enter"), Edge(f"{n} blocks", "norm")]
    return Structure(tuple(blocks), tuple(edges))


def dinov2_structure(model: Dinov2) -> Structure:
    """DINOv2: patch embedding; the class token and the interpolated positions enter (the mask
    token, used only in training, is counted with them); the registers, when there are any, join
    after the positions; the blocks with LayerScale at one resolution; the final norm."""
    n, registers = len(model.blocks), model.num_register_tokens
    blocks = [Block("image", (0, 0), module="embeddings.patch_embed", read="input", pick=(0,)),
              Block("patch embed", (1, 0), module="embeddings.patch_embed"),
              Block("class + positions", (2, -1), parameter="embeddings.pos_embed",
                    params=("embeddings.pos_embed", "embeddings.cls_token",
                            "embeddings.mask_token")),
              Block("tokens", (2, 0), module="embeddings", params=()),
              Block(f"{n} blocks", (3, 0), module=f"blocks.{n - 1}", params=("blocks",)),
              Block("norm", (4, 0), module="norm")]
    edges = [Edge("image", "patch embed"), Edge("patch embed", "tokens"),
             Edge("class + positions", "tokens", "enter"), Edge("tokens", f"{n} blocks"),
             Edge(f"{n} blocks", "norm")]
    if registers:
        blocks.append(Block(f"{registers} registers", (2, 1),
                            parameter="embeddings.register_tokens",
                            params=("embeddings.register_tokens",)))
        edges.append(Edge(f"{registers} registers", "tokens", "enter"))
    return Structure(tuple(blocks), tuple(edges))


def linear_probe_structure(model: LinearProbe) -> Structure:
    """The linear probe: the frozen ViT's normalised tokens, the patch tokens on their grid (the
    last ``layers`` blocks' concatenated), one linear classifier per patch (BatchNorm, 1x1
    convolution), bilinear up-sampling to the image."""
    n = len(model.backbone.blocks)
    blocks = [Block("image", (0, 0), module="", read="input", pick=(0,)),
              Block(f"frozen ViT, {n} blocks", (1, 0), module="backbone.norm",
                    params=("backbone",)),
              Block("patch grid", (2, 0), module="head", read="input", pick=(0,)),
              Block("BN + 1x1 conv", (3, 0), module="head"),
              Block("upsampled logits", (4, 0), module="", pick=("out",))]
    return Structure(tuple(blocks), tuple(_chain([b.name for b in blocks])))


def clipseg_structure(model: CLIPSeg) -> Structure:
    """CLIPSeg with a text prompt: CLIP's image encoder in a row (patch embedding, the class token
    and positions entering, the pre-norm, then the layers up to each extracted one); the prompt's
    tokens through CLIP's text encoder to its embedding, which enters at FiLM; the decoder below,
    from the deepest extracted layer back to the shallowest (each one's reduction added), the
    tokens put back on the patch grid and up-sampled to the mask. The image encoder's last norm
    and projection (and any layer after the deepest extracted one) serve image prompts only: not
    run here, they are counted in a block of their own."""
    extract = list(model.config.extract_layers)
    depth, n = len(model.vision.layers), len(extract)
    blocks = [Block("image", (0, 0), module="vision.patch_embed", read="input", pick=(0,)),
              Block("patch embed", (1, 0), module="vision.patch_embed"),
              Block("class token + positions", (2, -1), parameter="vision.position_embedding",
                    params=("vision.position_embedding", "vision.class_embedding")),
              Block("pre-norm", (2, 0), module="vision.pre_norm")]
    edges = [Edge("image", "patch embed"), Edge("patch embed", "pre-norm"),
             Edge("class token + positions", "pre-norm", "enter")]
    layers, previous = [], "pre-norm"
    for j, i in enumerate(extract):  # the layers up to extracted layer i (1-based names)
        first = extract[j - 1] + 1 if j else 0
        name = f"layer {i + 1}" if first == i else f"layers {first + 1}-{i + 1}"
        blocks.append(Block(name, (3 + j, 0), module=f"vision.layers.{i}",
                            params=tuple(f"vision.layers.{m}" for m in range(first, i + 1))))
        edges.append(Edge(previous, name))
        layers.append(name)
        previous = name
    unused = tuple(f"vision.layers.{m}" for m in range(extract[-1] + 1, depth))
    blocks.append(Block("image embedding (image prompts)", (3 + n, -1),
                        parameter="vision.projection.weight",
                        params=(*unused, "vision.post_norm", "vision.projection")))
    # the text prompt, from the right, into FiLM under the deepest extracted layer
    film = (2 + n, 1)
    blocks += [Block("prompt tokens", (film[0] + 3, 1), module="text.token_embedding",
                     read="input", pick=(0,)),
               Block("text encoder", (film[0] + 2, 1), module="text.final_norm",
                     params=("text.token_embedding", "text.position_embedding", "text.layers",
                             "text.final_norm")),
               Block("prompt embedding", (film[0] + 1, 1), module="text.projection"),
               Block("reduce + FiLM", film, module="decoder.film",
                     params=("decoder.reduces.0", "decoder.film"))]
    edges += [Edge("prompt tokens", "text encoder"), Edge("text encoder", "prompt embedding"),
              Edge("prompt embedding", "reduce + FiLM", "enter"), Edge(layers[-1], "reduce + FiLM")]
    # the decoder, right to left: layer k reads the deepest activation first
    previous = "reduce + FiLM"
    for k in range(n):
        name = f"decoder layer {k + 1}"
        column = film[0] - k
        blocks.append(Block(name, (column, 2), module=f"decoder.layers.{k}",
                            params=(f"decoder.layers.{k}",) + ((f"decoder.reduces.{k}",) if k
                                                                else ())))
        edges.append(Edge(previous, name, elbow="hv" if k == 0 else None))
        if k:
            edges.append(Edge(layers[n - 1 - k], name, "add"))
        previous = name
    blocks += [Block("patch grid", (film[0] - n, 2), module="decoder.upsample", read="input",
                     pick=(0,), params=()),
               Block("up-sampling", (film[0] - n - 1, 2), module="decoder.upsample"),
               Block("mask logits", (film[0] - n - 2, 2), module="", pick=("logits",))]
    edges += [Edge(previous, "patch grid"), Edge("patch grid", "up-sampling"),
              Edge("up-sampling", "mask logits")]
    groups = (("CLIP image encoder", ("patch embed", "pre-norm", *layers)),
              ("CLIP text encoder", ("text encoder", "prompt embedding")),
              ("decoder", ("reduce + FiLM", *(f"decoder layer {k + 1}" for k in range(n)),
                           "up-sampling")))
    return Structure(tuple(blocks), tuple(edges), (), groups)


def resnet_structure(model: ResNet) -> Structure:
    """A ResNet: the stem and the four stages, each halving the resolution (or dilating)."""
    blocks = [Block("image", (0, 0), module="conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model, "", at=(1, 0))
    return Structure(tuple(blocks), tuple(_chain([b.name for b in blocks])))


_STRUCTURES = [
    (FCN, fcn_vgg_structure), (DeepLabV3Plus, deeplabv3plus_structure),
    (Segformer, segformer_structure),
    (DilatedResNetSegmenter, _resnet_head_structure), (SegNet, segnet_structure),
    (UNet, unet_structure), (YoloGrid, yolo_grid_structure), (GeneralizedRCNN, rcnn_structure),
    (Yolact, yolact_structure), (StarDist, stardist_structure), (Cellpose, cellpose_structure),
    (SpatialEmbedding, spatial_embedding_structure), (Mask2Former, mask2former_structure),
    (DETR, detr_structure), (Eomt, eomt_structure),
    (Sam, sam_structure), (VisionTransformer, vit_structure), (ResNet, resnet_structure),
    (Dinov2, dinov2_structure), (LinearProbe, linear_probe_structure),
    (CLIPSeg, clipseg_structure), (Sam2, sam2_structure),
]


def architecture(model: nn.Module) -> Structure:
    """The :class:`~segedu.viz.diagram.Structure` of a segedu model, from its family;
    ``TypeError`` for a model no family declares."""
    for cls, structure in _STRUCTURES:
        if isinstance(model, cls):
            return structure(model)
    known = ", ".join(cls.__name__ for cls, _ in _STRUCTURES)
    raise TypeError(f"no diagram structure for {type(model).__name__}; known: {known}")
