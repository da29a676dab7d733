"""EoMT: the ViT in a row, the queries entering before its last blocks."""

from __future__ import annotations

from ...models.universal.eomt.model import Eomt
from ..diagram_structure import Block, Edge, Structure


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
