"""segedu's DINOv2 against transformers' ``Dinov2Model`` and ``Dinov2WithRegistersModel``.

Both models get the same random weights (transformers' own ``state_dict()``, and the Hub's file
layout that its ``save_pretrained`` writes), mapped by ``convert_dinov2_state_dict``; the outputs
must agree to float32 rounding on images whose patch grid differs from the positional grid, so
that the position interpolation (plain bicubic without registers, anti-aliased bicubic with them)
is part of what is compared. The weights are drawn with unit gain (each linear layer's weights
``N(0, 1 / fan_in)``), so that the attention is not saturated: saturated softmaxes would let a
converter that swaps queries and keys pass, which is a failing case below.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from segedu.models import get_model
from segedu.models.foundation.dinov2 import Dinov2, Dinov2Block, build, convert_dinov2_state_dict
from segedu.models.registry import official_file

transformers = pytest.importorskip("transformers")

TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=56, patch_size=14)  # a 4 x 4 grid
SIZES = [(28, 42), (70, 84), (56, 56)]  # shrink to 2 x 3, enlarge to 5 x 6, the grid itself
TOL = dict(atol=1e-5, rtol=1e-5)
VARIANTS = {"plain": dict(registers=0, swiglu=False), "registers_swiglu": dict(registers=4,
                                                                               swiglu=True)}


def hf_model(*, registers: int, swiglu: bool):
    """transformers' model of :data:`TINY`'s configuration, with unit-gain random weights."""
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=56,
              patch_size=14, use_swiglu_ffn=swiglu)
    if registers:
        config = transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **kw)
        model = transformers.Dinov2WithRegistersModel(config)
    else:
        model = transformers.Dinov2Model(transformers.Dinov2Config(**kw))
    g = torch.Generator().manual_seed(registers + 10 * swiglu)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 and "embeddings." not in name.replace("patch_embeddings", ""):
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif name.endswith(("norm1.weight", "norm2.weight", "layernorm.weight", "lambda1")):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            else:  # biases, class/register/mask tokens, positions
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return model.eval()


def ours(variant: dict, state: dict[str, torch.Tensor]) -> Dinov2:
    model = Dinov2(**TINY, num_register_tokens=variant["registers"], swiglu=variant["swiglu"])
    model.load_state_dict(state)  # strict: every key mapped, none left over
    return model.eval()


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request):
    variant = VARIANTS[request.param]
    reference = hf_model(**variant)
    state = convert_dinov2_state_dict(reference.state_dict())
    return variant, reference, ours(variant, state), state


def images(size, seed=0):
    return torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_outputs_equal_transformers(pair):
    """Last hidden state ``(B, 1 + R + N, D)`` and pooled output ``(B, D)`` at three sizes."""
    variant, reference, model, _ = pair
    for size in SIZES:
        x = images(size)
        expected = reference(pixel_values=x)
        tokens = model.forward_features(x)
        n = (size[0] // 14) * (size[1] // 14)
        assert tokens.shape == (2, 1 + variant["registers"] + n, 32)
        torch.testing.assert_close(tokens, expected.last_hidden_state, **TOL)
        torch.testing.assert_close(model(x), expected.pooler_output, **TOL)


@torch.no_grad()
def test_intermediate_layers_and_masking_equal_transformers(pair):
    """Each block's output (transformers' ``hidden_states``, not normalised) and the mask token
    path (``bool_masked_pos``)."""
    _, reference, model, _ = pair
    x = images((28, 42), seed=1)
    expected = reference(pixel_values=x, output_hidden_states=True).hidden_states
    torch.testing.assert_close(model.embeddings(x), expected[0], **TOL)
    layers = model.get_intermediate_layers(x, 2, norm=False)
    for ours_, theirs in zip(layers, expected[1:], strict=True):
        torch.testing.assert_close(ours_, theirs, **TOL)
    mask = torch.rand(2, 2, 3, generator=torch.Generator().manual_seed(2)) < 0.5
    masked = reference(pixel_values=x, bool_masked_pos=mask.flatten(1)).last_hidden_state
    torch.testing.assert_close(model.forward_features(x, mask=mask), masked, **TOL)
    assert not torch.allclose(masked, reference(pixel_values=x).last_hidden_state, atol=1e-3)


@torch.no_grad()
def test_a_changed_weight_or_wrong_mapping_fails(pair):
    """The comparison can fail: one changed weight, queries and keys swapped in one block, or the
    other model's interpolation kernel each change the output by far more than the tolerance
    (measured at 28 x 42: 0.03 / 0.7 for the weight, 1.1 / 1.1 and more for a swap, 0.05 / 0.04
    for the kernel, plain / registers; the converted weights: below 2e-6)."""
    variant, reference, _, state = pair
    x = images((28, 42))
    expected = reference(pixel_values=x).last_hidden_state

    def gap(changed: dict[str, torch.Tensor], **kwargs) -> float:
        model = Dinov2(**TINY, num_register_tokens=variant["registers"],
                       swiglu=variant["swiglu"], **kwargs)
        model.load_state_dict(changed)
        return (model.eval().forward_features(x) - expected).abs().max().item()

    assert gap(state) < 1e-5
    key = "blocks.1.mlp.w3.weight" if variant["swiglu"] else "blocks.1.mlp.fc2.weight"
    changed = dict(state)
    changed[key] = state[key].clone()
    changed[key][3, 0] += 0.5  # one weight of the last block's feed-forward network
    assert gap(changed) > 1e-3
    for i in range(2):  # queries and keys swapped in every block
        q, k, v = state[f"blocks.{i}.attn.qkv.weight"].chunk(3)
        changed = dict(state)
        changed[f"blocks.{i}.attn.qkv.weight"] = torch.cat([k, q, v])
        assert gap(changed) > 1e-3
    # the other model's interpolation (antialias on/off) at a size that needs interpolation
    assert gap(state, antialias=not variant["registers"]) > 1e-3


def test_every_key_is_mapped_and_bad_keys_are_named(pair):
    _, reference, model, state = pair
    assert set(state) == set(model.state_dict())
    hf = reference.state_dict()
    with pytest.raises(ValueError, match="classifier.weight"):
        convert_dinov2_state_dict({**hf, "classifier.weight": torch.zeros(3, 64)})
    partial = {k: v for k, v in hf.items() if "layer.0.attention.k_proj" not in k}
    with pytest.raises(ValueError, match=r"blocks\.0\.attn\.qkv.*\['k'\]"):
        convert_dinov2_state_dict(partial)
    with pytest.raises(TypeError, match="mapping"):
        convert_dinov2_state_dict([("a", torch.zeros(1))])


@torch.no_grad()
def test_hub_file_layout_through_get_model_official(pair, tmp_path, monkeypatch):
    """The Hub's ``model.safetensors`` layout (``attention.attention.query``, ``weights_in``, ...),
    as transformers' ``save_pretrained`` writes it, loaded by ``get_model(name,
    weights="official")`` from the cache without a download."""
    variant, reference, _, _ = pair
    reference.save_pretrained(tmp_path / "hf")
    hub = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert any(".attention.attention.query." in k for k in hub)  # the legacy layout indeed
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    name = "dinov2_vits14_reg" if variant["registers"] else "dinov2_vits14"
    official_file(name).parent.mkdir(parents=True)
    (tmp_path / "hf" / "model.safetensors").rename(official_file(name))
    model = get_model(name, weights="official", embed_dim=32, depth=2, num_heads=2,
                      img_size=56, swiglu=variant["swiglu"], num_register_tokens=variant[
                          "registers"]).eval()
    x = images((70, 84), seed=3)
    torch.testing.assert_close(model.forward_features(x),
                               reference(pixel_values=x).last_hidden_state, **TOL)


def test_bad_input_is_named():
    model = Dinov2(**TINY)
    with pytest.raises(ValueError, match="multiples of the patch size 14"):
        model(torch.zeros(1, 3, 28, 30))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.zeros(1, 1, 28, 28))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="mask must be a bool tensor of shape"):
        model.forward_features(torch.zeros(1, 3, 28, 28), mask=torch.zeros(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="n must be an integer in 1..2"):
        model.get_intermediate_layers(torch.zeros(1, 3, 28, 28), 3)
    with pytest.raises(ValueError, match=r"tokens must have shape \(B, N, 32\)"):
        model.blocks[0](torch.zeros(2, 5, 16))


def test_block_attention_mask_conventions():
    """A bool mask (True = may attend) and its additive float form (-1e9) give the same block
    output, and each equals ``F.scaled_dot_product_attention``'s masked attention."""
    torch.manual_seed(0)
    block = Dinov2Block(dim=16, num_heads=2, layerscale_init=0.5).eval()
    x = torch.randn(2, 7, 16)
    allowed = torch.rand(2, 1, 7, 7) < 0.6
    allowed[..., 0] = True  # every query may read at least one key
    additive = torch.zeros(allowed.shape).masked_fill(~allowed, -1e9)
    with torch.no_grad():
        out_bool, attention = block(x, attention_mask=allowed, return_attention=True)
        out_float = block(x, attention_mask=additive)
        q, k, v = block.attn.qkv_heads(block.norm1(x))
        sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        y = block.attn.proj(sdpa.transpose(1, 2).reshape(2, 7, 16))
        h = x + block.ls1(y)
        expected = h + block.ls2(block.mlp(block.norm2(h)))
    torch.testing.assert_close(out_bool, expected, **TOL)
    torch.testing.assert_close(out_float, expected, **TOL)
    assert attention.masked_select(~allowed.expand_as(attention)).abs().max() == 0


@pytest.mark.parametrize("name", sorted(build.HF_REPOS))
def test_builders_have_transformers_parameter_counts(name):
    """Every builder against transformers' model of the published configuration (the Hub
    configs: image 518, patch 14, ViT-g with SwiGLU), both built on the meta device."""
    size = name.split("_")[1][3]
    dim, depth, heads = {"s": (384, 12, 6), "b": (768, 12, 12), "l": (1024, 24, 16),
                         "g": (1536, 40, 24)}[size]
    kw = dict(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads,
              image_size=518, patch_size=14, use_swiglu_ffn=size == "g")
    with torch.device("meta"):
        model = get_model(name)
        if name.endswith("_reg"):
            reference = transformers.Dinov2WithRegistersModel(
                transformers.Dinov2WithRegistersConfig(num_register_tokens=4, **kw))
        else:
            reference = transformers.Dinov2Model(transformers.Dinov2Config(**kw))
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert f"{count:,}" in getattr(build, name).__doc__
    assert build.hf_url(name) == (f"https://huggingface.co/{build.HF_REPOS[name]}/resolve/main/"
                                  "model.safetensors")
