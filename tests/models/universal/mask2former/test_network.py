"""Mask2Former's network against HuggingFace ``transformers``' implementation, with copied weights.

``transformers`` is a test dependency (skipped when missing). Tiny configurations; the
comparisons of whole modules run in float64, so that a tolerance of 1e-10 separates a wrong
formula (errors of order 1e-1) from rounding; the deformable-attention kernel and the positional
code are compared bit for bit in float32.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import segedu.models.universal.mask2former  # noqa: F401  (registers mask2former and mask2former_resnet50)
from segedu.models.registry import get_model
from segedu.models.universal.mask2former.convert import convert_official_state_dict
from segedu.models.universal.mask2former.deformable_encoder import reference_points
from segedu.models.universal.mask2former.ms_deform_attn import (
    MSDeformAttn,
    level_start_index,
    multi_scale_deformable_attention,
)
from segedu.models.universal.mask2former.pixel_decoder import MSDeformAttnPixelDecoder
from segedu.models.universal.mask2former.transformer_decoder import (
    MultiScaleMaskedTransformerDecoder,
)
from segedu.models.universal.set_prediction.masked_attention import (
    attention_mask_from_masks,
    reset_fully_masked_rows,
)
from segedu.nn.position_encoding import PositionEmbeddingSine

hf = pytest.importorskip("transformers.models.mask2former.modeling_mask2former")
Mask2FormerConfig = pytest.importorskip("transformers").Mask2FormerConfig

TOL = dict(rtol=0, atol=1e-10)  # float64 comparisons


# ---------------------------------------------------------------------------------------------
# helpers: tiny configurations, random weights, the HF -> segedu name mapping
# ---------------------------------------------------------------------------------------------
def tiny_config(**overrides) -> Mask2FormerConfig:
    config = dict(feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=48,
                  dim_feedforward=40, encoder_layers=2, decoder_layers=8, num_attention_heads=4,
                  num_queries=6,
                  num_labels=5, common_stride=4, feature_strides=[4, 8, 16, 32], dropout=0.0,
                  pre_norm=False,
                  enforce_input_projection=False)
    config.update(overrides)
    return Mask2FormerConfig(**config)


@torch.no_grad()
def randomize_(module: nn.Module, seed: int, std: float = 0.3) -> nn.Module:
    """Every parameter (norms, embeddings, offsets included) random, so no formula hides behind a
    zero or one."""
    generator = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)
    return module


def convert_pixel_decoder(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``transformers``' ``Mask2FormerPixelDecoder`` names -> segedu's (= the original's)."""
    out = {}
    for key, value in state.items():
        new = key.replace("input_projections.", "input_proj.").replace("mask_projection.",
                                                                       "mask_features.")
        if new == "level_embed":
            new = "transformer.level_embed"
        new = new.replace("encoder.layers.", "transformer.encoder.layers.")
        new = (new.replace("self_attn_layer_norm", "norm1").replace("final_layer_norm", "norm2")
               .replace(".fc1.", ".linear1.").replace(".fc2.", ".linear2."))
        for conv in ("adapter_1", "layer_1"):
            new = new.replace(f"{conv}.0.", f"{conv}.").replace(f"{conv}.1.", f"{conv}.norm.")
        out[new] = value
    return out


def convert_transformer_module(state: dict[str, torch.Tensor],
                               class_predictor: nn.Linear) -> dict[str, torch.Tensor]:
    """``transformers``' ``Mask2FormerTransformerModule`` (+ its ``class_predictor``) names
    -> segedu's."""
    out = {"class_embed.weight": class_predictor.weight, "class_embed.bias": class_predictor.bias}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith("queries_embedder."):
            out[key.replace("queries_embedder.", "query_embed.")] = value
        elif key.startswith("queries_features."):
            out[key.replace("queries_features.", "query_feat.")] = value
        elif key.startswith(("level_embed.", "input_projections.")):
            out[key.replace("input_projections.", "input_proj.")] = value
        elif key.startswith("decoder.layernorm."):
            out[key.replace("decoder.layernorm.", "decoder_norm.")] = value
        elif key.startswith("decoder.mask_predictor.mask_embedder."):
            j, _, param = key.removeprefix("decoder.mask_predictor.mask_embedder.").split(".")
            out[f"mask_embed.layers.{j}.{param}"] = value
        elif key.startswith("decoder.layers."):
            i, rest = key.removeprefix("decoder.layers.").split(".", 1)
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj",
                                                                        "v_proj"):
                _, proj, param = rest.split(".")
                qkv.setdefault(f"{i}.{param}", {})[proj] = value
                continue
            rest = (rest.replace("self_attn_layer_norm.", "SELF.norm.")
                    .replace("self_attn.", "SELF.self_attn.")
                    .replace("cross_attn_layer_norm.", "CROSS.norm.")
                    .replace("cross_attn.", "CROSS.multihead_attn.")
                    .replace("final_layer_norm.", "FFN.norm.").replace("fc1.", "FFN.linear1.")
                    .replace("fc2.", "FFN.linear2."))
            block, rest = rest.split(".", 1)
            prefix = {"SELF": "transformer_self_attention_layers",
                      "CROSS": "transformer_cross_attention_layers",
                      "FFN": "transformer_ffn_layers"}[block]
            out[f"{prefix}.{i}.{rest}"] = value
        else:
            raise KeyError(f"unmapped transformers key {key}")
    for name, projs in qkv.items():  # nn.MultiheadAttention stacks q, k, v into one in_proj
        i, param = name.split(".")
        stacked = torch.cat([projs["q_proj"], projs["k_proj"], projs["v_proj"]], 0)
        out[f"transformer_self_attention_layers.{i}.self_attn.in_proj_{param}"] = stacked
    return out


def pair_pixel_decoders(config, channels, seed=0):
    theirs = randomize_(hf.Mask2FormerPixelDecoder(config, feature_channels=list(channels)),
                        seed).double().eval()
    ours = MSDeformAttnPixelDecoder(in_channels=channels, conv_dim=config.feature_size,
                                    mask_dim=config.mask_feature_size,
                                    num_encoder_layers=config.encoder_layers,
                                    encoder_ffn_dim=config.encoder_feedforward_dim,
                                    num_heads=config.num_attention_heads).double().eval()
    ours.load_state_dict(convert_pixel_decoder(theirs.state_dict()), strict=True)
    return ours, theirs


def pair_decoders(config, in_channels, seed=1):
    theirs = randomize_(hf.Mask2FormerTransformerModule(in_features=in_channels, config=config),
                        seed).double().eval()
    class_predictor = randomize_(nn.Linear(config.hidden_dim, config.num_labels + 1),
                                 seed + 1).double()
    ours = MultiScaleMaskedTransformerDecoder(
        in_channels=in_channels, num_classes=config.num_labels, hidden_dim=config.hidden_dim,
        num_queries=config.num_queries, num_heads=config.num_attention_heads,
        ffn_dim=config.dim_feedforward,
        num_layers=config.decoder_layers - 1, mask_dim=config.mask_feature_size,
        enforce_input_project=config.enforce_input_projection).double().eval()
    ours.load_state_dict(convert_transformer_module(theirs.state_dict(), class_predictor),
                         strict=True)
    return ours, theirs, class_predictor


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# sine positional code
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 3, 1, 1), (1, 3, 16, 4)])
@pytest.mark.parametrize("num_pos_feats", [16, 64])
def test_sine_position_embedding_equals_transformers(shape, num_pos_feats):
    x = torch.randn(shape)
    theirs = hf.Mask2FormerSinePositionEmbedding(num_position_features=num_pos_feats,
                                                 normalize=True)
    expected = theirs(x.shape, x.device, x.dtype)
    got = PositionEmbeddingSine(num_pos_feats=num_pos_feats, normalize=True)(x)
    assert got.shape == (shape[0], 2 * num_pos_feats, shape[2], shape[3])
    assert torch.equal(got, expected)
    # without normalisation, too
    reference = hf.Mask2FormerSinePositionEmbedding(num_position_features=num_pos_feats)
    expected = reference(x.shape, x.device, x.dtype)
    assert torch.equal(PositionEmbeddingSine(num_pos_feats=num_pos_feats, normalize=False)(x),
                       expected)


def test_sine_position_embedding_values_by_hand():
    # one row, two columns, F = 2: channels (sin y', cos y', sin x', cos x') with t = (1, 1)
    pos = PositionEmbeddingSine(num_pos_feats=2, normalize=True)(torch.zeros(1, 1, 1, 2))
    y = 1 / (1 + 1e-6) * 2 * math.pi
    xs = [v / (2 + 1e-6) * 2 * math.pi for v in (1, 2)]
    expected = torch.tensor([[[math.sin(y)] * 2], [[math.cos(y)] * 2], [[math.sin(v) for v in xs]],
                             [[math.cos(v) for v in xs]]])
    torch.testing.assert_close(pos[0], expected.float(), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# multi-scale deformable attention
# ---------------------------------------------------------------------------------------------
SHAPES = [(6, 9), (3, 5), (1, 1)]


def random_deformable_inputs(generator, batch=2, queries=7, heads=4, head_dim=8, points=3,
                             dtype=torch.float32):
    tokens = sum(h * w for h, w in SHAPES)
    value = torch.randn(batch, tokens, heads, head_dim, generator=generator, dtype=dtype)
    # locations partly outside [0, 1], where grid_sample reads zeros
    locations = torch.rand(batch, queries, heads, len(SHAPES), points, 2, generator=generator,
                           dtype=dtype) * 1.4 - 0.2
    weights = torch.randn(batch, queries, heads, len(SHAPES) * points, generator=generator,
                          dtype=dtype).softmax(-1)
    return value, locations, weights.view(batch, queries, heads, len(SHAPES), points)


def test_multi_scale_deformable_attention_equals_transformers_exactly():
    generator = torch.Generator().manual_seed(0)
    value, locations, weights = random_deformable_inputs(generator)
    expected = hf.multi_scale_deformable_attention(value, SHAPES, locations, weights)
    got = multi_scale_deformable_attention(value, SHAPES, locations, weights)
    assert got.shape == (2, 7, 4 * 8)
    assert torch.equal(got, expected)


def test_multi_scale_deformable_attention_reads_pixel_centres():
    # a location at the centre of pixel (i, j) of a level reads exactly that pixel's value
    generator = torch.Generator().manual_seed(1)
    value = torch.randn(1, sum(h * w for h, w in SHAPES), 1, 3, generator=generator)
    starts = level_start_index(SHAPES)
    assert starts == [0, 54, 69]
    for level, (h, w) in enumerate(SHAPES):
        i, j = h - 1, w // 2
        locations = torch.zeros(1, 1, 1, len(SHAPES), 1, 2)
        locations[..., level, 0, :] = torch.tensor([(j + 0.5) / w, (i + 0.5) / h])
        weights = torch.zeros(1, 1, 1, len(SHAPES), 1)
        weights[..., level, 0] = 1.0
        got = multi_scale_deformable_attention(value, SHAPES, locations, weights)
        torch.testing.assert_close(got[0, 0], value[0, starts[level] + i * w + j, 0], rtol=0,
                                   atol=1e-6)


def test_ms_deform_attn_module_equals_transformers():
    generator = torch.Generator().manual_seed(2)
    theirs = randomize_(hf.Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention(
        embed_dim=32, num_heads=4, n_levels=3, n_points=4), seed=3)
    ours = MSDeformAttn(dim=32, num_levels=3, num_heads=4, num_points=4)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # same names as the original
    tokens = sum(h * w for h, w in SHAPES)
    x = torch.randn(2, tokens, 32, generator=generator)
    pos = torch.randn(2, tokens, 32, generator=generator)
    points = reference_points(SHAPES).expand(2, -1, -1, -1)
    expected, _ = theirs(hidden_states=x, position_embeddings=pos, encoder_hidden_states=x,
                         attention_mask=torch.zeros(2, tokens, dtype=torch.bool),
                         reference_points=points,
                         spatial_shapes_list=SHAPES)
    got = ours(x + pos, points, x, SHAPES)
    assert torch.equal(got, expected)


def test_ms_deform_attn_initialisation_and_errors():
    attn = MSDeformAttn(dim=32, num_levels=2, num_heads=4, num_points=3)
    offsets = attn.sampling_offsets.bias.view(4, 2, 3, 2)
    # head 0 looks right (+x), head 1 down (+y), at 1, 2, 3 pixels; weights start uniform
    assert (offsets[0, 0, :, 0].tolist() == [1.0, 2.0, 3.0]
            and offsets[0, 0, :, 1].abs().max() < 1e-6)
    assert offsets[1, 1, :, 1].tolist() == [1.0, 2.0, 3.0]
    assert (attn.attention_weights.weight.abs().sum() == 0
            and attn.sampling_offsets.weight.abs().sum() == 0)
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(dim=30, num_heads=4)
    with pytest.raises(ValueError, match="levels"):
        attn(torch.randn(1, 5, 32), torch.rand(1, 5, 2, 2), torch.randn(1, 5, 32), [(1, 5)])
    with pytest.raises(ValueError, match="reference_points"):
        attn(torch.randn(1, 5, 32), torch.rand(1, 5, 3, 2), torch.randn(1, 6, 32), [(1, 5), (1, 1)])
    with pytest.raises(ValueError, match="tokens"):
        multi_scale_deformable_attention(torch.randn(1, 5, 4, 8), [(2, 2)],
                                         torch.rand(1, 3, 4, 1, 2, 2),
                                         torch.rand(1, 3, 4, 1, 2))


def test_reference_points_equal_transformers():
    valid = torch.ones(2, len(SHAPES), 2)
    expected = hf.Mask2FormerPixelDecoderEncoderOnly.get_reference_points(SHAPES, valid,
                                                                          device="cpu")
    assert torch.equal(reference_points(SHAPES).expand(2, -1, -1, -1), expected)


# ---------------------------------------------------------------------------------------------
# pixel decoder
# ---------------------------------------------------------------------------------------------
def backbone_features(batch, channels, size, generator):
    height, width = size  # of the image; features at strides 4, 8, 16, 32
    return [torch.randn(batch, c, height // s, width // s, generator=generator, dtype=torch.float64)
            for c, s in zip(channels, (4, 8, 16, 32), strict=True)]


@pytest.mark.parametrize("size", [(64, 96), (96, 32)])
def test_pixel_decoder_equals_transformers(size):
    config = tiny_config()
    channels = (8, 16, 24, 40)
    ours, theirs = pair_pixel_decoders(config, channels)
    features = backbone_features(2, channels, size, torch.Generator().manual_seed(4))
    expected = theirs(features)
    mask_features, multi_scale = ours(features)
    assert mask_features.shape == (2, 32, size[0] // 4, size[1] // 4)
    assert [tuple(f.shape[-2:]) for f in multi_scale] == [(size[0] // s, size[1] // s)
                                                          for s in (32, 16, 8)]
    torch.testing.assert_close(mask_features, expected.mask_features, **TOL)
    assert len(expected.multi_scale_features) == 3
    for got, want in zip(multi_scale, expected.multi_scale_features, strict=True):
        torch.testing.assert_close(got, want, **TOL)
    # the comparison can fail: a different level embedding changes the output
    with torch.no_grad():
        ours.transformer.level_embed.add_(0.1)
    assert not torch.allclose(ours(features)[0], expected.mask_features, **TOL)


def test_pixel_decoder_errors():
    decoder = MSDeformAttnPixelDecoder(in_channels=(8, 16, 24, 40), conv_dim=32, mask_dim=32,
                                       num_encoder_layers=1,
                                       encoder_ffn_dim=32, num_heads=4)
    features = [torch.randn(1, c, 16 // s, 16 // s)
                for c, s in zip((8, 16, 24, 40), (1, 2, 4, 8), strict=True)]
    with pytest.raises(ValueError, match="res2, res3, res4, res5"):
        decoder(features[1:])
    features[2] = torch.randn(1, 25, 4, 4)
    with pytest.raises(ValueError, match=r"res4.*\(B, 24, h, w\)"):
        decoder(features)
    with pytest.raises(ValueError, match="num_groups"):
        MSDeformAttnPixelDecoder(in_channels=(8, 16, 24, 40), conv_dim=48)


# ---------------------------------------------------------------------------------------------
# masked-attention transformer decoder
# ---------------------------------------------------------------------------------------------
def decoder_inputs(batch, in_channels, mask_dim, generator):
    # strides 32, 16, 8 of a 64 x 96 image: lowest resolution first
    sizes = [(2, 3), (4, 6), (8, 12)]
    features = [torch.randn(batch, in_channels, h, w, generator=generator, dtype=torch.float64)
                for h, w in sizes]
    mask_features = torch.randn(batch, mask_dim, 16, 24, generator=generator, dtype=torch.float64)
    return features, mask_features


@pytest.mark.parametrize("in_channels, enforce", [(32, False), (24, False), (32, True)])
def test_transformer_decoder_equals_transformers_layer_by_layer(in_channels, enforce):
    config = tiny_config(enforce_input_projection=enforce)
    ours, theirs, class_predictor = pair_decoders(config, in_channels)
    # decoder_layers = 8 counts the query prediction too
    assert len(ours.transformer_cross_attention_layers) == 7
    features, mask_features = decoder_inputs(2, in_channels, config.mask_feature_size,
                                             torch.Generator().manual_seed(5))
    expected = theirs(features, mask_features)
    got = ours(features, mask_features)
    predictions = [*got["aux_outputs"],
                   {"pred_logits": got["pred_logits"], "pred_masks": got["pred_masks"]}]
    assert len(predictions) == len(expected.masks_queries_logits) == 8
    for k, (pred, want_masks, hidden) in enumerate(zip(predictions, expected.masks_queries_logits,
                                                       expected.intermediate_hidden_states,
                                                       strict=True)):
        want_logits = class_predictor(hidden.transpose(0, 1))
        assert pred["pred_logits"].shape == (2, 6, 6) and pred["pred_masks"].shape == (2, 6, 16, 24)
        torch.testing.assert_close(pred["pred_logits"], want_logits, **TOL,
                                   msg=f"class logits of prediction {k}")
        torch.testing.assert_close(pred["pred_masks"], want_masks, **TOL,
                                   msg=f"masks of prediction {k}")
        # the masks are informative (neither empty nor full), so the attention masks matter
        if k < 7:
            assert 0.1 < (pred["pred_masks"] < 0).double().mean() < 0.9


def test_masked_attention_changes_the_output():
    # the same decoder without masks (every query sees every pixel) predicts differently: the test
    # above would notice a missing or inverted mask
    config = tiny_config()
    ours, _, _ = pair_decoders(config, 32)
    features, mask_features = decoder_inputs(1, 32, 32, torch.Generator().manual_seed(6))
    with_masks = ours(features, mask_features)["pred_logits"]
    import segedu.models.universal.mask2former.transformer_decoder as td

    original = td.attention_mask_from_masks
    td.attention_mask_from_masks = lambda logits, size, heads: torch.zeros(
        logits.shape[0] * heads, logits.shape[1], size[0] * size[1], dtype=torch.bool)
    try:
        without = ours(features, mask_features)["pred_logits"]
    finally:
        td.attention_mask_from_masks = original
    assert (with_masks - without).abs().max() > 1e-3


def test_attention_mask_from_masks_threshold_and_layout():
    # (B=2, Q=1, 2, 2)
    logits = torch.tensor([[[[-1.0, 0.0], [2.0, -0.5]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    mask = attention_mask_from_masks(logits, (2, 2), num_heads=3)
    assert mask.shape == (6, 1, 4) and mask.dtype == torch.bool
    # sigmoid(0) = 0.5 is *not* masked (only < 0.5 is); image 0 fills rows 0-2, image 1 rows 3-5
    assert mask[:3, 0].tolist() == [[True, False, False, True]] * 3
    assert not mask[3:].any()
    assert not attention_mask_from_masks(logits.requires_grad_(), (1, 1), 1).requires_grad


def test_fully_masked_rows_are_reset():
    mask = torch.tensor([[[True, True, True], [True, False, True], [False, False, False]]])
    reset = reset_fully_masked_rows(mask)
    assert reset.tolist() == [[[False, False, False], [True, False, True], [False, False, False]]]


def constant_mask_decoder(
        sign: float) -> tuple[MultiScaleMaskedTransformerDecoder, list, torch.Tensor]:
    """A decoder whose every predicted mask is all background (sign -1) or all foreground (+1)."""
    torch.manual_seed(7)
    decoder = MultiScaleMaskedTransformerDecoder(in_channels=32, num_classes=3, hidden_dim=32,
                                                 num_queries=5,
                                                 num_heads=4, ffn_dim=40, num_layers=4, mask_dim=8)
    # mask embedding = (sign, ..., sign); mask features all one: logit = 8 sign
    with torch.no_grad():
        decoder.mask_embed.layers[-1].weight.zero_()
        decoder.mask_embed.layers[-1].bias.fill_(sign)
    features = [torch.randn(2, 32, h, w) for h, w in [(2, 3), (4, 6), (8, 12)]]
    return decoder, features, torch.ones(2, 8, 16, 24)


def test_all_background_prediction_attends_everywhere():
    background, features, mask_features = constant_mask_decoder(-1.0)
    foreground, _, _ = constant_mask_decoder(+1.0)
    out_bg = background(features, mask_features)
    out_fg = foreground(features, mask_features)
    assert (out_bg["pred_masks"] < 0).all() and (out_fg["pred_masks"] > 0).all()
    # every row fully masked -> reset to "attend everywhere" = the all-foreground
    # decoder's attention
    assert torch.isfinite(out_bg["pred_logits"]).all()
    torch.testing.assert_close(out_bg["pred_logits"], out_fg["pred_logits"], rtol=0, atol=1e-6)
    # without the reset, an all-masked row is NaN (softmax of all -inf) or, in the PyTorch versions
    # whose attention kernels use a "safe" softmax, zeros: never the same as attending everywhere
    import segedu.models.universal.mask2former.transformer_decoder as td

    original = td.reset_fully_masked_rows
    td.reset_fully_masked_rows = lambda mask: mask
    try:
        unreset = background(features, mask_features)["pred_logits"]
    finally:
        td.reset_fully_masked_rows = original
    assert torch.isnan(unreset).any() or (unreset - out_fg["pred_logits"]).abs().max() > 1e-3


def test_layers_cycle_over_levels_low_to_high_resolution():
    _, features, _ = constant_mask_decoder(1.0)  # three maps: 2 x 3, 4 x 6, 8 x 12
    decoder = MultiScaleMaskedTransformerDecoder(in_channels=32, num_classes=3, hidden_dim=32,
                                                 num_queries=5,
                                                 num_heads=4, ffn_dim=40, num_layers=7, mask_dim=8)
    mask_features = torch.randn(2, 8, 16, 24)
    seen = []

    def record(module, args, kwargs):
        memory, attn_mask = args[1], kwargs["attn_mask"]
        seen.append(memory.shape[1])
        # the mask is at the attended level's size
        assert attn_mask.shape == (2 * 4, 5, memory.shape[1])
        assert not attn_mask.all(-1).any()  # no fully masked row reaches the attention

    for layer in decoder.transformer_cross_attention_layers:
        layer.register_forward_pre_hook(record, with_kwargs=True)
    decoder(features, mask_features)
    # strides 32, 16, 8, 32, 16, 8, 32: 2 x 3, 4 x 6, 8 x 12 tokens
    assert seen == [6, 24, 96, 6, 24, 96, 6]


def test_transformer_decoder_errors():
    decoder = MultiScaleMaskedTransformerDecoder(in_channels=32, num_classes=3, hidden_dim=32,
                                                 num_queries=5,
                                                 num_heads=4, ffn_dim=40, num_layers=2, mask_dim=8)
    features = [torch.randn(1, 32, 2, 2)] * 3
    with pytest.raises(ValueError, match="3 feature maps"):
        decoder(features[:2], torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match=r"mask_features must be \(B, 8, H, W\)"):
        decoder(features, torch.randn(1, 7, 8, 8))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiScaleMaskedTransformerDecoder(in_channels=32, num_classes=3, hidden_dim=36,
                                           num_heads=8)
    with pytest.raises(ValueError, match="num_classes"):
        MultiScaleMaskedTransformerDecoder(in_channels=32, num_classes=0)


# ---------------------------------------------------------------------------------------------
# the whole model
# ---------------------------------------------------------------------------------------------
def tiny_model(**kwargs):
    config = dict(num_classes=4, backbone_width=8, hidden_dim=32, num_queries=7, encoder_layers=1,
                  encoder_ffn_dim=32, decoder_layers=4, decoder_ffn_dim=32)
    return get_model("mask2former", **{**config, **kwargs}).eval()


@pytest.mark.parametrize("size", [(64, 96), (96, 64), (50, 70)])
def test_model_output_shapes(size):
    torch.manual_seed(8)
    model = tiny_model()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size))
    h, w = math.ceil(size[0] / 4), math.ceil(size[1] / 4)
    assert out["pred_logits"].shape == (2, 7, 5)
    assert out["pred_masks"].shape == (2, 7, h, w)
    assert len(out["aux_outputs"]) == 4
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == (2, 7, 5) and aux["pred_masks"].shape == (2, 7, h, w)
    assert torch.isfinite(out["pred_masks"]).all()


def test_model_equals_backbone_plus_head_and_pads_like_detectron2():
    torch.manual_seed(9)
    model = tiny_model()
    images = torch.rand(1, 3, 50, 70)
    with torch.no_grad():
        out = model(images)
        # by hand: normalise, zero-pad to 64 x 96, backbone, head, crop to 13 x 18
        x = ((images - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
             / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        x = torch.nn.functional.pad(x, (0, 26, 0, 14))
        expected = model.sem_seg_head(model.backbone.forward_stages(x))
    torch.testing.assert_close(out["pred_masks"], expected["pred_masks"][..., :13, :18], rtol=0,
                               atol=0)
    torch.testing.assert_close(out["pred_logits"], expected["pred_logits"], rtol=0, atol=0)


def test_model_trains():
    torch.manual_seed(10)
    model = tiny_model().train()
    out = model(torch.rand(2, 3, 64, 64))
    loss = out["pred_logits"].logsumexp(-1).mean() + out["pred_masks"].sigmoid().mean()
    loss = loss + sum(a["pred_logits"].mean() + a["pred_masks"].mean() for a in out["aux_outputs"])
    loss.backward()
    head = model.sem_seg_head
    for name in ("query_feat", "query_embed", "level_embed"):
        assert getattr(head.predictor, name).weight.grad.abs().sum() > 0, name
    # the deformable attention starts with zero offset and weight matrices (Deformable DETR's init),
    # so the pixel decoder's level embedding (which only enters the queries) gets its first gradient
    # through them: these two matrices learn from the first step
    attn = head.pixel_decoder.transformer.encoder.layers[0].self_attn
    assert (attn.sampling_offsets.weight.grad.abs().sum() > 0
            and attn.attention_weights.weight.grad.abs().sum() > 0)
    assert head.pixel_decoder.transformer.level_embed.grad.abs().sum() == 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_model_bad_inputs():
    model = tiny_model()
    with pytest.raises(TypeError, match="tensor"):
        model([torch.rand(3, 64, 64)])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(TypeError, match="float"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="non-empty"):
        model(torch.rand(0, 3, 64, 64))
    with pytest.raises(ValueError, match="num_classes"):
        get_model("mask2former", num_classes=0)
    with pytest.raises(ValueError, match="backbone"):
        get_model("mask2former", backbone="resnet101")


def test_state_dict_names_follow_the_original_checkpoint():
    keys = set(tiny_model().state_dict())
    for key in ("sem_seg_head.pixel_decoder.input_proj.0.0.weight",
                "sem_seg_head.pixel_decoder.input_proj.2.1.bias",
                "sem_seg_head.pixel_decoder.transformer.level_embed",
                "sem_seg_head.pixel_decoder.transformer.encoder.layers.0.self_attn.sampling_offsets.weight",
                "sem_seg_head.pixel_decoder.transformer.encoder.layers.0.linear1.weight",
                "sem_seg_head.pixel_decoder.transformer.encoder.layers.0.norm2.bias",
                "sem_seg_head.pixel_decoder.mask_features.weight",
                "sem_seg_head.pixel_decoder.adapter_1.weight",
                "sem_seg_head.pixel_decoder.adapter_1.norm.weight",
                "sem_seg_head.pixel_decoder.layer_1.norm.bias",
                "sem_seg_head.predictor.query_feat.weight",
                "sem_seg_head.predictor.query_embed.weight",
                "sem_seg_head.predictor.level_embed.weight",
                "sem_seg_head.predictor.transformer_self_attention_layers.0.self_attn.in_proj_weight",
                "sem_seg_head.predictor.transformer_cross_attention_layers.3.multihead_attn.out_proj.bias",
                "sem_seg_head.predictor.transformer_ffn_layers.0.linear2.weight",
                "sem_seg_head.predictor.decoder_norm.weight",
                "sem_seg_head.predictor.class_embed.weight",
                "sem_seg_head.predictor.mask_embed.layers.2.bias",
                "backbone.layer4.1.conv2.weight"):
        assert key in keys, key


# ---------------------------------------------------------------------------------------------
# registered builders and their parameter counts
# ---------------------------------------------------------------------------------------------
def test_slim_builder_parameter_count():
    model = get_model("mask2former")
    assert n_params(model) == 1_332_743
    assert n_params(model.backbone) == 702_096
    assert n_params(model.sem_seg_head.pixel_decoder) == 210_480
    assert n_params(model.sem_seg_head.predictor) == 420_167
    predictor = model.sem_seg_head.predictor
    assert (predictor.num_queries, predictor.num_layers, model.num_classes) == (50, 6, 6)
    assert len(model.sem_seg_head.pixel_decoder.transformer.encoder.layers) == 3


@pytest.fixture(scope="module")
def resnet50_model():
    return get_model("mask2former_resnet50")


def test_resnet50_builder_parameter_count_equals_transformers_modules(resnet50_model):
    model = resnet50_model
    pixel_decoder, predictor = model.sem_seg_head.pixel_decoder, model.sem_seg_head.predictor
    assert n_params(model) == 43_983_878
    # torchvision's 25,557,032 minus fc and the (frozen) BN affines
    assert n_params(model.backbone) == 23_454_912
    assert (predictor.num_queries, predictor.num_layers, predictor.num_heads) == (100, 9, 8)
    assert len(pixel_decoder.transformer.encoder.layers) == 6
    assert pixel_decoder.transformer.encoder.layers[0].linear1.out_features == 1024
    assert predictor.transformer_ffn_layers[0].linear1.out_features == 2048
    # transformers' default config is the paper's R50 head (decoder_layers=10 means 9 layers)
    config = Mask2FormerConfig(num_labels=133)
    theirs_pixel = hf.Mask2FormerPixelDecoder(config, feature_channels=[256, 512, 1024, 2048])
    theirs_decoder = hf.Mask2FormerTransformerModule(in_features=256, config=config)
    assert n_params(pixel_decoder) == n_params(theirs_pixel)
    # + their class_predictor
    assert n_params(predictor) == n_params(theirs_decoder) + 256 * 134 + 134


# ---------------------------------------------------------------------------------------------
# official checkpoint names
# ---------------------------------------------------------------------------------------------
def detectron2_resnet50_keys() -> list[str]:
    """The backbone keys of a detectron2 ResNet-50 with FrozenBN, from detectron2's naming rules."""
    norm = ("weight", "bias", "running_mean", "running_var")
    keys = ["backbone.stem.conv1.weight"] + [f"backbone.stem.conv1.norm.{p}" for p in norm]
    for stage, blocks in zip((2, 3, 4, 5), (3, 4, 6, 3), strict=True):
        for j in range(blocks):
            convs = ["conv1", "conv2", "conv3"] + (["shortcut"] if j == 0 else [])
            for conv in convs:
                keys.append(f"backbone.res{stage}.{j}.{conv}.weight")
                keys += [f"backbone.res{stage}.{j}.{conv}.norm.{p}" for p in norm]
    return keys


def test_convert_official_state_dict_names(resnet50_model):
    keys = detectron2_resnet50_keys()
    converted = convert_official_state_dict({k: torch.zeros(1).numpy() for k in keys})
    assert converted["backbone.conv1.weight"].dtype == torch.float32
    renamed = dict(zip(keys, converted, strict=True))
    assert renamed["backbone.stem.conv1.norm.running_var"] == "backbone.bn1.running_var"
    assert renamed["backbone.res2.0.shortcut.weight"] == "backbone.layer1.0.downsample.0.weight"
    assert renamed["backbone.res5.0.shortcut.norm.bias"] == "backbone.layer4.0.downsample.1.bias"
    assert renamed["backbone.res4.5.conv3.norm.weight"] == "backbone.layer3.5.bn3.weight"
    assert renamed["backbone.res3.2.conv2.weight"] == "backbone.layer2.2.conv2.weight"
    # exactly the state dict of mask2former_resnet50's backbone (frozen BN buffers included)
    model = resnet50_model
    assert set(converted) == {f"backbone.{k}" for k in model.backbone.state_dict()}
    # head keys pass through; the criterion's buffer is dropped
    head = {k: v for k, v in model.state_dict().items() if k.startswith("sem_seg_head.")}
    full = convert_official_state_dict({**dict.fromkeys(keys, torch.zeros(1)), **head,
                                        "criterion.empty_weight": torch.ones(134)})
    assert set(full) == set(model.state_dict())
