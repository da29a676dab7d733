"""Small segment-anything models and their segedu twins with the same random weights.

Every parameter is perturbed away from its initial value (segment-anything starts ``pos_embed``
and the relative position tables at zero and LayerNorms at identity, which would hide a mix-up),
then the reference's state dict is loaded into segedu's model *strictly*.
"""

from __future__ import annotations

from functools import partial

import torch
from segment_anything import modeling as ref
from torch import nn

import segedu.models.foundation.sam as sam

# 128 px input, 16 px patches: an 8 x 8 grid; windows of 3 force padding to 9 x 9
CONFIG = dict(
    img_size=128,
    patch=16,
    embed=32,
    depth=3,
    heads=2,
    window=3,
    global_idx=(1,),
    dim=32,
    mask_chans=8,
    dec_heads=2,
    dec_mlp=64,
    iou_hidden=32,
)


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Add noise to every parameter (std 0.5 for zero-initialised tables, 0.1 otherwise)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            std = 0.5 if ("pos" in name and "embed" in name) or "rel_pos" in name else 0.1
            p.add_(std * torch.randn(p.shape, generator=gen))
    return module


def copy_into(ours: nn.Module, reference: nn.Module) -> nn.Module:
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours.eval()


def image_encoders(seed: int = 0, **overrides):
    c = {**CONFIG, **overrides}
    kwargs = dict(
        img_size=c["img_size"],
        patch_size=c["patch"],
        embed_dim=c["embed"],
        depth=c["depth"],
        num_heads=c["heads"],
        out_chans=c["dim"],
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        window_size=c["window"],
        global_attn_indexes=c["global_idx"],
    )
    torch.manual_seed(seed)
    reference = randomize(ref.ImageEncoderViT(**kwargs), seed).eval()
    return reference, copy_into(sam.ImageEncoderViT(**kwargs), reference)


def prompt_encoders(seed: int = 0, **overrides):
    c = {**CONFIG, **overrides}
    grid = c["img_size"] // c["patch"]
    kwargs = dict(
        embed_dim=c["dim"],
        image_embedding_size=(grid, grid),
        input_image_size=(c["img_size"], c["img_size"]),
        mask_in_chans=c["mask_chans"],
    )
    torch.manual_seed(seed)
    reference = randomize(ref.PromptEncoder(**kwargs), seed).eval()
    return reference, copy_into(sam.PromptEncoder(**kwargs), reference)


def mask_decoders(seed: int = 0, **overrides):
    c = {**CONFIG, **overrides}
    torch.manual_seed(seed)

    def build(module):
        transformer = module.TwoWayTransformer(
            depth=2, embedding_dim=c["dim"], num_heads=c["dec_heads"], mlp_dim=c["dec_mlp"]
        )
        return module.MaskDecoder(
            transformer_dim=c["dim"],
            transformer=transformer,
            num_multimask_outputs=3,
            iou_head_depth=3,
            iou_head_hidden_dim=c["iou_hidden"],
        )

    reference = randomize(build(ref), seed).eval()
    return reference, copy_into(build(sam), reference)


def sams(seed: int = 0, **overrides):
    """A reference ``Sam`` and segedu's, same random weights."""
    (re, oe), (rp, op), (rd, od) = (
        image_encoders(seed, **overrides),
        prompt_encoders(seed + 1, **overrides),
        mask_decoders(seed + 2, **overrides),
    )
    reference = ref.Sam(image_encoder=re, prompt_encoder=rp, mask_decoder=rd).eval()
    ours = sam.Sam(image_encoder=oe, prompt_encoder=op, mask_decoder=od).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours
