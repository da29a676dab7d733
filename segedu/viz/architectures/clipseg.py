"""CLIPSeg: the image encoder, the decoder climbing back from its deepest extracted layer, the
text prompt entering at FiLM.
"""

from __future__ import annotations

from ...models.foundation.clipseg import CLIPSeg
from ..diagram_structure import Block, Edge, Structure


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
