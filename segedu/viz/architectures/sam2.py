"""SAM 2: SAM's parts with the memory attention, the memory encoder and the memory bank."""

from __future__ import annotations

from ...models.foundation.sam2 import Sam2
from ..diagram_structure import Block, Edge, Structure


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
