"""DINOv2's ViT with its class token, positions and registers, and the linear probe on it."""

from __future__ import annotations

from ...models.foundation.dinov2 import Dinov2, LinearProbe
from ..diagram_structure import Block, Edge, Structure
from .common import chain


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
    return Structure(tuple(blocks), tuple(chain([b.name for b in blocks])))
