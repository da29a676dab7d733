"""Layout helpers that several families' structures use: chains, ResNet stages, branches
(PSPNet's pyramid, DeepLab's ASPP) and FPN pyramids, and the plain ResNet and ViT.
"""

from __future__ import annotations

from torch import nn

from ...nn.resnet import ResNet
from ...nn.vit import VisionTransformer
from ..diagram_structure import Block, Edge, Structure


def chain(names: list[str]) -> list[Edge]:
    return [Edge(a, b) for a, b in zip(names, names[1:], strict=False)]


def stage_groups(sequential: nn.Sequential, prefix: str) -> list[tuple[str, tuple[str, ...]]]:
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


def branch_row(i: int, n: int) -> float:
    """The row of branch ``i`` of ``n`` parallel branches, centred on the main row 0 but never on
    it (an odd count moves up half a row): a branch drawn on the main row reads as a step of the
    data path, not as one of the parallel branches."""
    return i - (n - 1) / 2 - (0.5 if n % 2 else 0.0)


def branch_edges(source: str, branch: str, merge: str, row: float,
                  kind: str = "flow") -> list[Edge]:
    """A parallel branch between ``source`` and ``merge`` (both on row 0): off the source's
    vertical trunk, into the merge's; the middle branch runs straight."""
    if row == 0:
        return [Edge(source, branch), Edge(branch, merge, kind)]
    return [Edge(source, branch, elbow="vh"), Edge(branch, merge, kind, elbow="hv")]


def branch_rate(branch: nn.Module) -> int:
    for layer in branch.modules():
        if isinstance(layer, nn.Conv2d) and layer.dilation[0] > 1:
            return layer.dilation[0]
    return 1


def fpn_pyramid(model: nn.Module, prefix: str) -> tuple[list[Block], list[Edge], list[str]]:
    """A ResNet with an FPN: the stages in column 1 (deepest on top), the pyramid levels in
    column 2 beside the stage each comes from, extra levels above them."""
    backbone = model.get_submodule(prefix.rstrip("."))
    body, fpn = backbone.body, backbone.fpn
    stages = backbone.returned_stages
    blocks = [Block("image", (0, 5), module=f"{prefix}body.conv1", read="input", pick=(0,))]
    names = [b for b in resnet_blocks(body, f"{prefix}body.", at=(1, 5), step=(0, -1))]
    blocks += names
    edges = chain([b.name for b in blocks])
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
    keys = list(fpn_extra_keys(fpn))
    for j, key in enumerate(keys):
        name = f"P{stages[-1] + 2 + j}"
        params = (f"{prefix}fpn.extra_blocks",) if extra is not None else ()
        blocks.append(Block(name, (2, 4 - stages[-1] - j), module=f"{prefix}fpn", pick=(key,),
                            params=params if j == 0 else ()))
        edges.append(Edge(levels[-1], name))
        levels.append(name)
    return blocks, edges, levels


def fpn_extra_keys(fpn: nn.Module) -> list[str]:
    """The output names of an FPN's extra levels: ``"pool"`` (max pooling) or ``"p6", "p7"``."""
    return [] if fpn.extra_blocks is None else list(fpn.extra_blocks.names)


def resnet_structure(model: ResNet) -> Structure:
    """A ResNet: the stem and the four stages, each halving the resolution (or dilating)."""
    blocks = [Block("image", (0, 0), module="conv1", read="input", pick=(0,))]
    blocks += resnet_blocks(model, "", at=(1, 0))
    return Structure(tuple(blocks), tuple(chain([b.name for b in blocks])))


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
