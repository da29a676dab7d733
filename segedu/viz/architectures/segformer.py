"""SegFormer: four encoder stages in a row, each projected by the all-MLP decoder."""

from __future__ import annotations

from ...models.semantic.segformer import Segformer
from ..diagram_structure import Block, Bus, Edge, Structure
from .common import chain


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
    edges = chain(["image", *stages])
    edges += [Edge(stage, mlp, elbow=None if i == n - 1 else "vh")
              for i, (stage, mlp) in enumerate(zip(stages, mlps, strict=True))]
    edges += [Edge("fuse", "classifier"), Edge("classifier", "scores")]
    groups = (("Mix Transformer encoder", tuple(stages)),
              ("all-MLP decoder", (*mlps, "fuse", "classifier")))
    return Structure(tuple(blocks), tuple(edges), (Bus(tuple(mlps), ("fuse",)),), groups)
