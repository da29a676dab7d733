"""segedu's SegFormer against ``transformers``' ``SegformerForSemanticSegmentation``, with the
same weights.

A tiny SegFormer (4 stages of widths 16-32-48-64 with 1-2-3-4 heads, depths 2-1-1-2,
sequence-reduction ratios 4-2-2-1, decoder width 32, 5 classes) gets random weights (the decoder's
batch-norm statistics too) and
:func:`~segedu.models.semantic.segformer.convert_transformers_state_dict` loads them into segedu's
:class:`~segedu.models.semantic.segformer.Segformer`. Both are built with their published
stochastic depth (0.1) and classifier dropout (0.1), and compared in evaluation mode, where both
are off. The whole network is compared: every stage's map (``transformers``' ``hidden_states``),
the stride-4 logits (``transformers``' output, :meth:`Segformer.decode`) and segedu's ``"out"``,
which the semantic family wants at the input's size, against the reference's logits up-sampled as
its own loss and post-processing do (bilinear, ``align_corners=False``). Two input sizes: a square
one whose sides the strides divide, and a non-square one that they do not (45 x 71: every stage
rounds, and the sequence reduction drops a row or column).

The weights are random with unit gain (``N(0, 1 / fan_in)`` matrices:
:func:`tests.models.unit_gain.unit_gain_`), so that no attention saturates; a converter that
stacks values before keys then fails (:func:`test_a_converter_that_swaps_keys_and_values_fails`).

The references disagree in one place that does not show here: ``transformers`` builds every
LayerNorm with PyTorch's ``eps=1e-5`` (its config's ``layer_norm_eps=1e-6`` is not read), the
NVlabs code its blocks' and stages' with ``1e-6``; segedu follows ``transformers``.

Measured: the largest differences are 3.0e-6 in the stage maps and 1.6e-6 in the logits (whose
largest magnitude is about 3), on both sizes: rounding, since segedu scales the queries before the
product and ``transformers`` the scores after it, in PyTorch's fused attention. The tolerance is
``atol=1e-5, rtol=1e-4`` (float32).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segedu.models import get_model
from segedu.models.registry import official_url
from segedu.models.semantic.segformer import (
    OFFICIAL_REPOS,
    Segformer,
    SegformerConfig,
    convert_transformers_state_dict,
)

from ..unit_gain import unit_gain_

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=1e-4)
TINY = SegformerConfig(num_classes=5, hidden_sizes=(16, 32, 48, 64), num_heads=(1, 2, 3, 4),
                       depths=(2, 1, 1, 2), sr_ratios=(4, 2, 2, 1), decoder_dim=32)


def reference_config(config: SegformerConfig, **more):
    """``transformers``' configuration of the same sizes (its default dropouts: 0.1)."""
    return transformers.SegformerConfig(
        hidden_sizes=list(config.hidden_sizes), num_attention_heads=list(config.num_heads),
        depths=list(config.depths), sr_ratios=list(config.sr_ratios),
        decoder_hidden_size=config.decoder_dim, num_labels=config.num_classes, **more)


@pytest.fixture(scope="module")
def pair():
    """``(reference, segedu's Segformer)`` holding the same random weights, in evaluation mode."""
    torch.manual_seed(0)
    reference = transformers.SegformerForSemanticSegmentation(reference_config(TINY)).eval()
    unit_gain_(reference)  # no attention saturates (see above)
    model = Segformer(config=TINY).eval()
    model.load_state_dict(convert_transformers_state_dict(reference.state_dict()))
    return reference, model


def reference_outputs(reference, images):
    """The reference's stage maps and stride-4 logits."""
    with torch.no_grad():
        out = reference(pixel_values=images, output_hidden_states=True)
    return list(out.hidden_states), out.logits


@pytest.mark.parametrize("size", [(2, 64, 64), (1, 45, 71)])
def test_segformer_equals_transformers(pair, size):
    reference, model = pair
    batch, height, width = size
    images = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))
    stages, logits = reference_outputs(reference, images)
    with torch.no_grad():
        ours_stages = model.encoder(images)
        ours_logits = model.decode_head(ours_stages)
        out = model(images)["out"]
    assert len(ours_stages) == len(stages) == 4
    for mine, theirs in zip(ours_stages, stages, strict=True):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs, **TOL)
    # the reference's output: stride-4 logits, rounded up (45 x 71 -> 12 x 18)
    assert ours_logits.shape == logits.shape == (batch, 5, -(-height // 4), -(-width // 4))
    torch.testing.assert_close(ours_logits, logits, **TOL)
    # the family's output: those logits at the input's size, up-sampled as the reference does
    assert out.shape == (batch, 5, height, width)
    upsampled = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, upsampled, **TOL)


@pytest.mark.parametrize("key", [
    "encoder.stages.0.patch_embed.proj.weight",
    "encoder.stages.0.blocks.1.attn.kv.weight",
    "encoder.stages.1.blocks.0.attn.sr.weight",
    "encoder.stages.2.blocks.0.mlp.dwconv.weight",
    "encoder.stages.3.norm.bias",
    "decode_head.projections.3.weight",
    "decode_head.norm.running_mean",
])
def test_a_changed_weight_fails_the_comparison(pair, key):
    """The comparison can fail: one number of segedu's copy changed, the logits differ. (One
    number: adding 0.5 to *every* weight of a patch embedding adds the same value to all the
    channels of a token, which its LayerNorm then subtracts; that change passed, rightly.)"""
    reference, model = pair
    images = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    _, logits = reference_outputs(reference, images)
    changed = Segformer(config=TINY).eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.state_dict(keep_vars=True)[key].view(-1)[0].add_(0.5)
        ours = changed.decode(images)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(ours, logits, **TOL)


def test_a_converter_that_swaps_keys_and_values_fails(pair):
    """Values stacked before keys in the first stage's second block (a converter that stacks
    ``v, k``): the comparison fails."""
    reference, _ = pair
    images = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    _, logits = reference_outputs(reference, images)
    state = convert_transformers_state_dict(reference.state_dict())
    key, dim = "encoder.stages.0.blocks.1.attn.kv.weight", TINY.hidden_sizes[0]
    state[key] = torch.cat([state[key][dim:], state[key][:dim]])
    swapped = Segformer(config=TINY).eval()
    swapped.load_state_dict(state)
    with torch.no_grad():
        ours = swapped.decode(images)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(ours, logits, **TOL)


def test_the_converter_maps_every_key_of_both_spellings(pair, tmp_path):
    """Every key is mapped, none is left over: the converted names are exactly segedu's. The Hub's
    file (what ``save_pretrained`` writes: the 2021 names, ``segformer.encoder.block...``) converts
    to the same tensors as ``transformers`` 5's own ``state_dict()``."""
    from safetensors.torch import load_file

    reference, model = pair
    converted = convert_transformers_state_dict(reference.state_dict())
    assert set(converted) == set(model.state_dict())
    reference.save_pretrained(tmp_path)
    hub = load_file(tmp_path / "model.safetensors")
    assert any(key.startswith("segformer.encoder.block.") for key in hub)  # the other spelling
    from_hub = convert_transformers_state_dict(hub)
    assert set(from_hub) == set(converted)
    for key, tensor in converted.items():
        torch.testing.assert_close(from_hub[key], tensor, atol=0, rtol=0)


def test_the_converter_rejects_unknown_keys_and_a_lone_key_projection(pair):
    reference, _ = pair
    state = dict(reference.state_dict())
    with pytest.raises(ValueError, match="no rule maps the transformers key 'classifier.weight'"):
        convert_transformers_state_dict({**state, "classifier.weight": torch.zeros(1)})
    del state["segformer.stages.1.blocks.0.attention.v_proj.weight"]
    with pytest.raises(ValueError, match=r"need key and value projections, got \['k'\]"):
        convert_transformers_state_dict(state)


def test_training_mode_drops_paths_and_evaluation_does_not():
    """Stochastic depth and dropout act in training only: two training passes differ, two
    evaluation passes are equal."""
    model = Segformer(config=TINY)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.manual_seed(5)
        first = model.train()(images)["out"]
        second = model(images)["out"]
        assert not torch.allclose(first, second)
        model.eval()
        torch.testing.assert_close(model(images)["out"], model(images)["out"], atol=0, rtol=0)


def test_bad_input_and_bad_sizes_are_named():
    model = Segformer(config=TINY).eval()
    with pytest.raises(ValueError, match=r"3 channels"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="multiple of the heads"):
        SegformerConfig(hidden_sizes=(16, 32, 48, 64), num_heads=(1, 2, 5, 8))
    with pytest.raises(ValueError, match="depths has 3 entries for 4 stages"):
        SegformerConfig(depths=(2, 2, 2))
    with pytest.raises(ValueError, match="no field.*width"):
        get_model("segformer_tiny", width=8)


@pytest.mark.parametrize("size, count, paper", [("b0", 3_752_694, 3.8e6),
                                                ("b1", 13_715_798, 13.7e6),
                                                ("b5", 84_708_694, 84.7e6)])
def test_the_published_sizes_match_transformers(size, count, paper):
    """B0, B1 and B5 with ADE20K's 150 classes, on the meta device (shapes only): the converted
    state dict of ``transformers``' model of that size has exactly segedu's names and shapes, both
    count the same weights (the counts measured), within 0.05 M of the paper's (Table 1: 3.8 M,
    13.7 M, 84.7 M)."""
    widths = (32, 64, 160, 256) if size == "b0" else (64, 128, 320, 512)
    depths = {"b0": (2, 2, 2, 2), "b1": (2, 2, 2, 2), "b5": (3, 6, 40, 3)}[size]
    with torch.device("meta"):
        model = get_model(f"segformer_{size}")
        reference = transformers.SegformerForSemanticSegmentation(reference_config(
            SegformerConfig(hidden_sizes=widths, depths=depths,
                            decoder_dim=256 if size in ("b0", "b1") else 768)))
    converted = convert_transformers_state_dict(reference.state_dict())
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = sum(p.numel() for p in model.parameters())
    assert ours == sum(p.numel() for p in reference.parameters()) == count
    assert abs(ours - paper) < 0.05e6


def test_official_addresses_are_nvidias_hub_files():
    """``weights="official"`` reads NVIDIA's ADE20K checkpoints on the HuggingFace Hub, the
    repositories ``transformers``' documentation uses (B0's is named in its docstrings)."""
    doc = transformers.SegformerForSemanticSegmentation.forward.__doc__
    assert OFFICIAL_REPOS["b0"] in doc
    for size, repo in OFFICIAL_REPOS.items():
        assert official_url(f"segformer_{size}") == (
            f"https://huggingface.co/{repo}/resolve/main/model.safetensors")


def test_official_weights_load_as_the_hub_file_gives_them(tmp_path, monkeypatch):
    """``get_model("segformer_b0", weights="official")`` end to end, without the network: a B0
    of random weights written as the Hub's ``model.safetensors`` (``save_pretrained``: the 2021
    names) lies where the download would put it; the registry reads it, the converter maps it,
    and segedu's B0 gives the reference's logits."""
    from segedu.models.registry import official_file

    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(6)
    reference = transformers.SegformerForSemanticSegmentation(
        reference_config(SegformerConfig())).eval()
    unit_gain_(reference)
    reference.save_pretrained(tmp_path / "hub")
    cached = official_file("segformer_b0")
    cached.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "hub" / "model.safetensors").rename(cached)
    model = get_model("segformer_b0", weights="official").eval()
    images = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(7))
    _, logits = reference_outputs(reference, images)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(images), logits, **TOL)
