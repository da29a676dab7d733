"""segedu's DETR against ``transformers``' ``DetrForObjectDetection``, with the same weights.

A tiny DETR (ResNet-18 layout of width 8 from ``transformers``' own ResNet, no timm and no
download; hidden width 32, 4 heads, 2 encoder and 3 decoder layers, 7 queries, 5 classes) gets
random weights (the batch norms' statistics too, so that the frozen batch norm is exercised);
:func:`~segedu.models.universal.detr.convert_transformers_state_dict` loads them into segedu's
:class:`~segedu.models.universal.detr.DETR`. The whole network is compared, backbone included: the
ResNets are the same network under other names. ``transformers`` takes normalised pixels and
segedu normalises inside, so the reference gets ``(images - mean) / std``; its pixel mask is all
ones (segedu's DETR has no padding).

Auxiliary outputs: with ``auxiliary_loss=True``, ``transformers`` 5.24's ``DetrDecoder`` feeds the
*normalised* output of each layer into the next one (``hidden_states = self.layernorm(...)``),
which the original DETR does not (``intermediate.append(self.norm(output))`` keeps ``output``):
its final logits then differ from the paper's network (by 1.17 here, measured). The reference is
therefore run with ``auxiliary_loss=False`` (the paper's data path), and its auxiliary predictions
are made from its own decoder layer outputs (``decoder_hidden_states[1:]``) by its own LayerNorm
and heads, as the original's ``aux_outputs`` are.

The weights are random with unit gain (``N(0, 1 / fan_in)`` matrices). Larger ones (``N(0, 0.3)``
everywhere, tried first) saturate the attention and make the queries alike, so that a converter
swapping the query and key projections of the second decoder layer's self-attention changed the
logits by only 8e-7 and passed; with these weights the same swap changes them by 0.03 and fails
(:func:`test_a_converter_that_swaps_queries_and_keys_fails`). The first decoder layer's
self-attention stays blind to that swap by construction: its queries are zeros, so every value is
the same bias and any attention weights give the same output.

Measured: the largest differences are 0 for the logits and boxes and 6e-8 in the auxiliary
outputs; the tolerance is ``atol=1e-5, rtol=1e-4`` (float32).
"""

from __future__ import annotations

import math

import pytest
import torch

from segedu.models import get_model
from segedu.models.universal.detr import DETR, SetCriterion, convert_transformers_state_dict

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=1e-4)
SIZE = dict(hidden_dim=32, num_heads=4, encoder_layers=2, decoder_layers=3, ffn_dim=64,
            num_queries=7)


@pytest.fixture(scope="module")
def pair():
    """``(reference, segedu's DETR)`` holding the same random weights, in evaluation mode."""
    torch.manual_seed(0)
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                                         depths=[2, 2, 2, 2], layer_type="basic",
                                         out_features=["stage4"])
    config = transformers.DetrConfig(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone,
        d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=7,
        num_labels=5, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        auxiliary_loss=False)
    reference = transformers.DetrForObjectDetection(config).eval()
    with torch.no_grad():  # random weights of unit gain: no attention saturates (see above)
        for key, value in reference.state_dict().items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif key.endswith("query_position_embeddings.weight"):
                value.normal_(0.0, 1.0)
            elif value.ndim >= 2:
                value.normal_(0.0, 1 / math.sqrt(value[0].numel()))
            elif "norm" in key and key.endswith("weight"):
                value.uniform_(0.5, 1.5)
            elif value.is_floating_point():
                value.normal_(0.0, 0.2)
    model = DETR(num_classes=5, backbone="resnet18", backbone_width=8, **SIZE).eval()
    model.load_state_dict(convert_transformers_state_dict(reference.state_dict()))
    return reference, model


def reference_outputs(reference, model, images):
    """The reference's predictions in segedu's format, ``aux_outputs`` as the original makes
    them (see the module docstring)."""
    pixels = (images - model.pixel_mean) / model.pixel_std
    mask = torch.ones(images.shape[0], *images.shape[-2:], dtype=torch.long)
    with torch.no_grad():
        out = reference(pixel_values=pixels, pixel_mask=mask, output_hidden_states=True)
        aux = []
        for hidden in out.decoder_hidden_states[1:-1]:  # [0] is the decoder's zero input
            normed = reference.model.decoder.layernorm(hidden)
            aux.append({"pred_logits": reference.class_labels_classifier(normed),
                        "pred_boxes": reference.bbox_predictor(normed).sigmoid()})
    return {"pred_logits": out.logits, "pred_boxes": out.pred_boxes, "aux_outputs": aux}


def assert_same(ours, theirs):
    for key in ("pred_logits", "pred_boxes"):
        torch.testing.assert_close(ours[key], theirs[key], **TOL)
    assert len(ours["aux_outputs"]) == len(theirs["aux_outputs"]) == SIZE["decoder_layers"] - 1
    for mine, other in zip(ours["aux_outputs"], theirs["aux_outputs"], strict=True):
        for key in ("pred_logits", "pred_boxes"):
            torch.testing.assert_close(mine[key], other[key], **TOL)


def test_detr_equals_transformers(pair):
    reference, model = pair
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(images)
    theirs = reference_outputs(reference, model, images)
    assert ours["pred_logits"].shape == (2, 7, 6) and ours["pred_boxes"].shape == (2, 7, 4)
    assert_same(ours, theirs)
    # the boxes are relative (cx, cy, w, h): inside [0, 1]; the layers do differ from each other
    assert ours["pred_boxes"].min() >= 0 and ours["pred_boxes"].max() <= 1
    assert not torch.allclose(ours["pred_logits"], ours["aux_outputs"][-1]["pred_logits"])


@pytest.mark.parametrize("key", ["backbone.layer4.1.conv2.weight",
                                 "transformer.encoder.0.self_attention.self_attn.in_proj_weight",
                                 "transformer.decoder.2.cross_attention.multihead_attn.in_proj_bias",
                                 "query_embed.weight"])
def test_a_changed_weight_fails_the_comparison(pair, key):
    """The comparison can fail: one weight of segedu's copy changed, the outputs differ."""
    reference, model = pair
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    theirs = reference_outputs(reference, model, images)
    changed = DETR(num_classes=5, backbone="resnet18", backbone_width=8, **SIZE).eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.state_dict(keep_vars=True)[key].add_(0.5)
        ours = changed(images)
    with pytest.raises(AssertionError):
        assert_same(ours, theirs)


def test_a_converter_that_swaps_queries_and_keys_fails(pair):
    """Queries and keys swapped in the second decoder layer's self-attention (a converter that
    stacks ``k, q, v``): the comparison fails."""
    reference, model = pair
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    theirs = reference_outputs(reference, model, images)
    state = convert_transformers_state_dict(reference.state_dict())
    key, dim = "transformer.decoder.1.self_attention.self_attn.in_proj_weight", SIZE["hidden_dim"]
    weight = state[key]
    state[key] = torch.cat([weight[dim:2 * dim], weight[:dim], weight[2 * dim:]])
    swapped = DETR(num_classes=5, backbone="resnet18", backbone_width=8, **SIZE).eval()
    swapped.load_state_dict(state)
    with torch.no_grad():
        ours = swapped(images)
    with pytest.raises(AssertionError):
        assert_same(ours, theirs)


def test_converter_rejects_unknown_keys_and_incomplete_attention(pair):
    reference, _ = pair
    state = dict(reference.state_dict())
    with pytest.raises(ValueError, match="no rule maps the transformers key 'model.extra.weight'"):
        convert_transformers_state_dict({**state, "model.extra.weight": torch.zeros(1)})
    del state["model.decoder.layers.1.encoder_attn.k_proj.weight"]
    with pytest.raises(ValueError, match=r"need q, k and v projections, got \['q', 'v'\]"):
        convert_transformers_state_dict(state)


def test_outputs_feed_the_set_criterion(pair):
    """The output format is the one :class:`SetCriterion` trains: a finite loss per layer."""
    _, model = pair
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    target = [{"labels": torch.tensor([1, 4]),
               "boxes": torch.tensor([[0.3, 0.4, 0.2, 0.3], [0.7, 0.6, 0.3, 0.2]])}]
    with torch.no_grad():
        losses = SetCriterion(num_classes=5)(model(images), target)
    assert "loss_bbox_1" in losses and all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("threshold", [0.0, 0.37])
def test_postprocess_equals_transformers_post_process_object_detection(pair, threshold):
    """``postprocess(task="instance")`` against ``DetrImageProcessor.post_process_object_detection``
    on the reference's own outputs: the same scores, labels and pixel boxes, the same queries
    kept (threshold 0.37 keeps about half of the 7 queries, 0 all of them)."""
    reference, model = pair
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(5))
    pixels = (images - model.pixel_mean) / model.pixel_std
    with torch.no_grad():
        ours = model.postprocess(model(images), task="instance", output_size=(64, 96),
                                 threshold=threshold)
        out = reference(pixel_values=pixels, pixel_mask=torch.ones(2, 64, 96, dtype=torch.long))
    theirs = transformers.DetrImageProcessor().post_process_object_detection(
        out, threshold=threshold, target_sizes=[(64, 96)] * 2)
    kept = [len(t["scores"]) for t in theirs]
    assert (kept == [7, 7]) if threshold == 0 else (0 < sum(kept) < 14), kept
    for mine, other in zip(ours, theirs, strict=True):
        assert set(mine) == {"scores", "labels", "boxes"}
        assert torch.equal(mine["labels"], other["labels"])
        torch.testing.assert_close(mine["scores"], other["scores"], **TOL)
        torch.testing.assert_close(mine["boxes"], other["boxes"], atol=1e-3, rtol=1e-4)


def test_aux_loss_off_and_bad_input():
    model = DETR(num_classes=3, backbone="resnet18", backbone_width=8, aux_loss=False,
                 **SIZE).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 40, 72))
    assert set(out) == {"pred_logits", "pred_boxes"} and out["pred_logits"].shape == (1, 7, 4)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(TypeError, match="images must be float"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="num_classes"):
        DETR(num_classes=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        DETR(num_classes=3, hidden_dim=30)


def test_the_paper_configuration_matches_transformers_resnet50_detr():
    """The paper's DETR (ResNet-50 bottlenecks, width 256, 6 + 6 layers, 100 queries, 91 classes),
    registered as ``detr_resnet50``, on the meta device (shapes only): the converted state dict
    has exactly segedu's names and shapes, and both count the same weights (41,524,768 measured;
    the paper's Table 1: 41M)."""
    with torch.device("meta"):
        config = transformers.DetrConfig(
            use_timm_backbone=False, use_pretrained_backbone=False, num_labels=91,
            backbone_config=transformers.ResNetConfig(out_features=["stage4"]))
        reference = transformers.DetrForObjectDetection(config)
        model = get_model("detr_resnet50")
    converted = convert_transformers_state_dict(reference.state_dict())
    ours = model.state_dict()
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in ours.items()}
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert 41e6 <= count < 42e6
