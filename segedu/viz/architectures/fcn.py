"""FCN-32s/16s/8s on VGG16, and torchvision's dilated-ResNet segmenters (FCN, DeepLabv3,
PSPNet): a chain, with branches for the context modules.
"""

from __future__ import annotations

from torch import nn

from ...models.semantic.fcn_resnet import DilatedResNetSegmenter
from ...models.semantic.fcn_vgg import FCN
from ...models.semantic.heads import ASPP
from ...models.semantic.pspnet import PyramidPoolingModule
from ..diagram_structure import Block, Edge, Structure
from .common import (
    branch_edges,
    branch_rate,
    branch_row,
    chain,
    resnet_blocks,
    stage_groups,
)


def fcn_vgg_structure(model: FCN) -> Structure:
    """FCN-32s/16s/8s: VGG16's five pooled stages and fc6/fc7 in a row; the score layers below;
    the fusion path (x2 up-sampling plus a finer score, added) along the bottom."""
    stages = stage_groups(model.features, "features.")
    blocks = [Block("image", (0, 0), module="features.0", read="input", pick=(0,))]
    for i, (path, group) in enumerate(stages):
        blocks.append(Block(f"pool{i + 1}", (i + 1, 0), module=path, params=group))
    blocks += [Block("fc6", (6, 0), module="fc6"), Block("fc7", (7, 0), module="fc7"),
               Block("score_fr", (7, 1), module="score_fr")]
    edges = chain([b.name for b in blocks])  # image .. fc7, then down to score_fr
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


def resnet_head_structure(model: DilatedResNetSegmenter) -> Structure:
    """A dilated ResNet, then an FCN head, PSPNet's pyramid pooling or DeepLabv3's ASPP on
    layer 4 (branches in one column), the up-sampled scores, and the auxiliary head on layer 3."""
    blocks = [Block("image", (0, 0), module="backbone.conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model.backbone, "backbone.", at=(1, 0))
    edges = chain([b.name for b in blocks])
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
                        else f"rate {branch_rate(branches[i])}")
            kind = "stages" if pooling else "convs"
            blocks.append(Block(name, (col, branch_row(i, n)), module=f"classifier.0.{kind}.{i}"))
            # the branches' maps are concatenated (ASPP then projects them)
            edges += branch_edges("layer4", name, "PPM" if pooling else "ASPP",
                                   branch_row(i, n), "concat")
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
