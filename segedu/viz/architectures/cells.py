"""Bottom-up cell models on a U-Net: StarDist, Cellpose, Omnipose, DenoiSeg and spatial
embeddings, each the U with its heads.
"""

from __future__ import annotations

from torch import nn

from ...models.bottom_up.cellpose.model import Cellpose
from ...models.bottom_up.denoiseg.model import DenoiSeg
from ...models.bottom_up.omnipose.model import Omnipose
from ...models.bottom_up.spatial_embedding.model import SpatialEmbedding
from ...models.bottom_up.stardist.model import StarDist
from ..diagram_structure import Block, Edge, Structure
from .unet import unet_structure


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


def omnipose_structure(model: Omnipose) -> Structure:
    """Omnipose: a U-Net whose head gives the two flow components, the distance field and the
    boundary logit."""
    return unet_structure(model.unet, "unet.")


def denoiseg_structure(model: DenoiSeg) -> Structure:
    """DenoiSeg: a U-Net whose head gives the denoised image and the three class logits
    (background, foreground, border)."""
    return unet_structure(model.unet, "unet.")
