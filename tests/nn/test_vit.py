"""segedu's Vision Transformer against timm's (weights copied strictly) and DINO's interpolation.

References: timm 1.x ``VisionTransformer`` (``vit_small_patch16_224.dino`` and a small variant) for
every module, the final tokens, the attention maps, the intermediate layers, drop-path rates and
the "timm" positional interpolation (``dynamic_img_size=True``); a transcription of DINO's
``interpolate_pos_encoding`` (facebookresearch/dino, ``vision_transformer.py``) for the default
"dino" interpolation. Comparisons run in float64 with tolerance 1e-10 (timm computes attention
with the fused ``scaled_dot_product_attention``, we write it out: the same function up to
rounding), except where timm itself rounds to float32 (its positional interpolation): there both
run in float32 with tolerance 1e-5.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer as TimmViT

from segedu.nn.vit import (
    Attention,
    Block,
    DropPath,
    Mlp,
    PatchEmbed,
    VisionTransformer,
    interpolate_pos_embed,
)

SMALL = dict(img_size=64, patch_size=8, embed_dim=96, depth=2, num_heads=3)
TOL64 = dict(atol=1e-10, rtol=1e-10)


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Every parameter random (LayerNorm weights around 1), so that no zero bias hides a bug."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g, dtype=p.dtype) * std
        p.copy_(noise + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    return model


def small_pair(dtype=torch.float64, *, dynamic: bool = False, **ours):
    """A random timm ViT and segedu's with the same weights (loaded strictly)."""
    torch.manual_seed(0)
    reference = TimmViT(**SMALL, num_classes=0, dynamic_img_size=dynamic)
    randomize_(reference).to(dtype).eval()
    model = VisionTransformer(**SMALL, **ours).to(dtype).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


def dino_interpolate_pos_encoding(pos_embed, npatch, w, h, patch_size):
    """Transcription of DINO's ``VisionTransformer.interpolate_pos_encoding`` (``w`` is the image
    height there: ``B, nc, w, h = x.shape``)."""
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    w0 = w // patch_size
    h0 = h // patch_size
    w0, h0 = w0 + 0.1, h0 + 0.1
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)),
        mode="bicubic",
    )
    assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


@torch.no_grad()
def dino_reference_features(reference: TimmViT, x: torch.Tensor) -> torch.Tensor:
    """DINO's forward (``prepare_tokens``, blocks, norm) built from timm's modules and
    DINO's interpolation."""
    b, _, w, h = x.shape
    tokens = reference.patch_embed.proj(x).flatten(2).transpose(1, 2)
    tokens = torch.cat([reference.cls_token.expand(b, -1, -1), tokens], dim=1)
    p = reference.patch_embed.patch_size[0]
    tokens = tokens + dino_interpolate_pos_encoding(reference.pos_embed, tokens.shape[1] - 1, w, h,
                                                    p)
    for block in reference.blocks:
        tokens = block(tokens)
    return reference.norm(tokens)


def timm_last_attention(reference: TimmViT, x: torch.Tensor) -> torch.Tensor:
    """The last block's attention recomputed from timm's own qkv layer: softmax(q k^T / sqrt(d))."""
    tokens = reference._pos_embed(reference.patch_embed(x))
    for block in reference.blocks[:-1]:
        tokens = block(tokens)
    last = reference.blocks[-1]
    b, t, d = tokens.shape
    heads = last.attn.num_heads
    qkv = last.attn.qkv(last.norm1(tokens)).reshape(b, t, 3, heads, d // heads)
    qkv = qkv.permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    return (q @ k.transpose(-2, -1) / math.sqrt(d // heads)).softmax(dim=-1)


# ---------------------------------------------------------------------------------------------
# modules one by one


def test_modules_equal_timm_modules():
    """PatchEmbed, Attention, Mlp, Block against timm's with copied weights (float64)."""
    from timm.layers import Mlp as TimmMlp
    from timm.layers import PatchEmbed as TimmPatchEmbed
    from timm.models.vision_transformer import Attention as TimmAttention
    from timm.models.vision_transformer import Block as TimmBlock

    torch.manual_seed(1)
    x_img = torch.randn(2, 3, 32, 48, dtype=torch.float64)
    x_tok = torch.randn(2, 7, 48, dtype=torch.float64)
    pairs = [
        (PatchEmbed(patch_size=8, in_chans=3, embed_dim=48),
         TimmPatchEmbed(img_size=32, patch_size=8, in_chans=3, embed_dim=48, strict_img_size=False),
         x_img),
        (Attention(dim=48, num_heads=4), TimmAttention(48, num_heads=4, qkv_bias=True), x_tok),
        (Mlp(in_features=48, hidden_features=192), TimmMlp(48, 192), x_tok),
        (Block(dim=48, num_heads=4), TimmBlock(48, 4, qkv_bias=True), x_tok),
    ]
    for ours, ref, x in pairs:
        randomize_(ref, std=0.2).double().eval()
        ours.double().eval().load_state_dict(ref.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref(x), **TOL64)


def test_attention_returns_row_stochastic_maps():
    attention = Attention(dim=24, num_heads=3).double()
    x = torch.randn(2, 5, 24, dtype=torch.float64)
    out, maps = attention(x, return_attention=True)
    assert out.shape == (2, 5, 24) and maps.shape == (2, 3, 5, 5)
    assert (maps >= 0).all()
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))
    # the output is the maps applied to the values, then the projection
    _, _, v = attention.qkv_heads(x)
    manual = attention.proj((maps @ v).transpose(1, 2).reshape(2, 5, 24))
    torch.testing.assert_close(out, manual, **TOL64)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        Attention(dim=10, num_heads=3)


def test_drop_path_rates_and_behaviour():
    """Rates grow linearly with depth, as timm's (drop_path1.drop_prob) and DINO's linspace."""
    ours = VisionTransformer(**SMALL | dict(depth=4), drop_path_rate=0.3)
    ref = TimmViT(**SMALL | dict(depth=4), num_classes=0, drop_path_rate=0.3)
    for block, ref_block in zip(ours.blocks, ref.blocks, strict=True):
        expected = getattr(ref_block.drop_path1, "drop_prob", 0.0)
        assert block.drop_path.p == pytest.approx(expected)
    drop = DropPath(p=0.5)
    x = torch.randn(64, 3, 4) + 5
    torch.testing.assert_close(drop.eval()(x), x)
    torch.manual_seed(0)
    y = drop.train()(x)
    kept = (y != 0).flatten(1).all(1)
    dropped = (y == 0).flatten(1).all(1)
    assert (kept | dropped).all() and kept.any() and dropped.any()  # whole samples only
    torch.testing.assert_close(y[kept], x[kept] * 2)  # 1 / (1 - p)
    with pytest.raises(ValueError, match="drop path"):
        DropPath(p=1.0)


# ---------------------------------------------------------------------------------------------
# the whole backbone


def test_small_variant_state_dict_and_features_equal_timm():
    model, reference = small_pair()
    assert list(model.state_dict()) == list(reference.state_dict())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel()
                                                             for p in reference.parameters())
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), reference.forward_features(x),
                                   **TOL64)
        torch.testing.assert_close(model(x), reference(x), **TOL64)  # the class token
    assert model.forward_features(x).shape == (2, 1 + 64, 96)


def test_vits16_equals_timm_dino_at_224():
    """ViT-S/16 (timm's ``vit_small_patch16_224.dino`` built with pretrained=False),
    random weights."""
    import timm

    torch.manual_seed(0)
    reference = randomize_(timm.create_model("vit_small_patch16_224.dino", pretrained=False),
                           std=0.02)
    reference = reference.double().eval()
    model = VisionTransformer(img_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6)
    model = model.double().eval()
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), reference.forward_features(x),
                                   **TOL64)
        # a non-square size, DINO's interpolation: against DINO's forward on timm's modules
        y = torch.randn(1, 3, 160, 240, dtype=torch.float64)
        torch.testing.assert_close(model.forward_features(y), dino_reference_features(reference, y),
                                   **TOL64)


def test_other_sizes_dino_mode_equals_dino_interpolation():
    """Default mode: DINO's interpolate_pos_encoding (transcribed), at several grids, square
    or not."""
    model, reference = small_pair()
    for h, w in [(64, 64), (48, 80), (128, 128), (32, 96), (8, 8)]:
        x = torch.randn(2, 3, h, w, dtype=torch.float64)
        with torch.no_grad():
            torch.testing.assert_close(model.forward_features(x),
                                       dino_reference_features(reference, x), **TOL64)
    # the function alone, bit for bit
    pos = torch.randn(1, 1 + 14 * 14, 32)
    for h, w in [(20, 24), (7, 28), (14, 14), (5, 3)]:
        ours = interpolate_pos_embed(pos, (h, w), mode="dino")
        torch.testing.assert_close(ours,
                                   dino_interpolate_pos_encoding(pos, h * w, 16 * h, 16 * w, 16),
                                   atol=0, rtol=0)


def test_other_sizes_timm_mode_equals_timm_dynamic_img_size():
    """``pos_embed_mode="timm"`` equals timm with ``dynamic_img_size=True`` (float32, as
    timm interpolates)."""
    model, reference = small_pair(torch.float32, dynamic=True, pos_embed_mode="timm")
    for h, w in [(48, 80), (128, 96), (64, 64)]:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            torch.testing.assert_close(model.forward_features(x), reference.forward_features(x),
                                       atol=1e-5, rtol=1e-5)
    pos = torch.randn(1, 1 + 14 * 14, 32)
    for size in [(20, 24), (7, 28), (5, 3)]:
        expected = resample_abs_pos_embed(pos, new_size=size, old_size=(14, 14),
                                          num_prefix_tokens=1)
        torch.testing.assert_close(interpolate_pos_embed(pos, size, mode="timm"), expected, atol=0,
                                   rtol=0)


def test_dino_and_timm_interpolations_differ():
    """The two conventions agree on the training grid and differ elsewhere (documented
    in pos_embed.py)."""
    pos = torch.randn(1, 1 + 14 * 14, 32, dtype=torch.float64)
    for mode in ("dino", "timm"):
        assert interpolate_pos_embed(pos, (14, 14), mode=mode) is pos
    dino, timm_ = (interpolate_pos_embed(pos, (20, 24), mode=m) for m in ("dino", "timm"))
    torch.testing.assert_close(dino[:, 0], pos[:, 0], atol=0, rtol=0)  # class token kept
    torch.testing.assert_close(timm_[:, 0], pos[:, 0], atol=0, rtol=0)
    assert (dino - timm_).abs().max() > 1e-2
    with pytest.raises(ValueError, match="mode"):
        interpolate_pos_embed(pos, (3, 3), mode="bilinear")
    with pytest.raises(ValueError, match="square"):
        interpolate_pos_embed(pos[:, :-1], (3, 3))


def test_last_selfattention_equals_timm_qkv_and_rows_sum_to_one():
    model, reference = small_pair()
    x = torch.randn(2, 3, 48, 64, dtype=torch.float64)
    with torch.no_grad():
        attention = model.get_last_selfattention(x)
        assert attention.shape == (2, 3, 1 + 6 * 8, 1 + 6 * 8)
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, 49, dtype=torch.float64),
                                   **TOL64)
        # timm at its own size (64 x 64), where both interpolations are the identity
        y = torch.randn(2, 3, 64, 64, dtype=torch.float64)
        torch.testing.assert_close(model.get_last_selfattention(y),
                                   timm_last_attention(reference, y), **TOL64)
        # the keys of get_last_qkv are those of timm's last block
        q, k, v = model.get_last_qkv(y)
        tokens = reference._pos_embed(reference.patch_embed(y))
        tokens = reference.blocks[0](tokens)
        block = reference.blocks[1]
        qkv = block.attn.qkv(block.norm1(tokens)).reshape(2, 65, 3, 3, 32)
        torch.testing.assert_close(k, qkv[:, :, 1].transpose(1, 2), **TOL64)


def test_intermediate_layers_equal_timm():
    """DINO's semantics (last n blocks, normalised) =
    timm's ``get_intermediate_layers(norm=True)``."""
    model, reference = small_pair(**{})
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for norm in (True, False):
            ours = model.get_intermediate_layers(x, 2, norm=norm)
            theirs = reference.get_intermediate_layers(x, 2, return_prefix_tokens=True, norm=norm)
            assert len(ours) == len(theirs) == 2
            for o, (patches, prefix) in zip(ours, theirs, strict=True):
                torch.testing.assert_close(o, torch.cat([prefix, patches], dim=1), **TOL64)
        torch.testing.assert_close(model.get_intermediate_layers(x, 1)[0],
                                   model.forward_features(x), **TOL64)
    for bad in (0, 3, 1.5):
        with pytest.raises(ValueError, match="n must be"):
            model.get_intermediate_layers(x, bad)


def test_patch_grid_and_bad_inputs():
    model = VisionTransformer(**SMALL)
    assert model.patch_grid(torch.zeros(1, 3, 40, 72)) == (5, 9)
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model.forward_features(torch.zeros(1, 3, 60, 64))
    with pytest.raises(ValueError, match="multiples of the patch size"):
        model.patch_grid(torch.zeros(1, 3, 4, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        model(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model([[0.0]])
    with pytest.raises(ValueError, match="multiple of patch_size"):
        VisionTransformer(img_size=60, patch_size=8)
    with pytest.raises(ValueError, match="pos_embed_mode"):
        VisionTransformer(**SMALL, pos_embed_mode="nearest")


def test_initialisation_is_dino_like():
    """Normal (std 0.02) tokens and weights, zero biases, unit LayerNorms. DINO's and timm's
    ``trunc_normal_(std=.02)`` truncates at the default bounds -2 and 2, i.e. 100 std: no
    truncation."""
    torch.manual_seed(0)
    model = VisionTransformer(img_size=64, patch_size=8, embed_dim=192, depth=2, num_heads=3)
    qkv = model.blocks[0].attn.qkv
    assert abs(qkv.weight.std().item() - 0.02) < 0.001 and abs(qkv.weight.mean().item()) < 0.001
    assert (qkv.bias == 0).all() and (model.norm.weight == 1).all()
    assert model.cls_token.abs().max() > 0 and model.pos_embed.std() > 0.01
