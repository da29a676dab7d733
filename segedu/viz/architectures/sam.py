"""SAM: image encoder, prompt encoder and mask decoder."""

from __future__ import annotations

from ...models.foundation.sam.sam import Sam
from ..diagram_structure import Block, Edge, Structure


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
