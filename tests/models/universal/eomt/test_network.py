"""segedu's EoMT against ``transformers``' ``EomtForUniversalSegmentation``, with the same weights.

One tiny configuration (width 32, 4 heads, 3 blocks of which the last 2 carry 5 queries, 2
registers, 8-pixel patches on 48 x 48 images: a 6 x 6 grid, two up-scaling blocks: 24 x 24 masks,
4 classes) gets random weights of unit gain (``N(0, 1 / fan_in)`` matrices, norms and LayerScale
gains in ``[0.5, 1.5]``, embeddings ``N(0, 1)``), and
:func:`~segedu.models.universal.eomt.convert_transformers_state_dict` loads them into segedu's
:class:`~segedu.models.universal.eomt.Eomt`. ``transformers`` takes normalised pixels and segedu
normalises inside, so the reference gets ``(images - mean) / std``.

Both run in float32 (tolerance ``atol=1e-5, rtol=1e-4``), not float64 as Mask2Former's test does:
``transformers`` builds its additive attention mask with ``attention_mask.float()``, always
float32, and PyTorch 2.14's CPU ``scaled_dot_product_attention`` given a float32 mask with float64
queries returns wrong values (the masked block's output off by 2.7 here, measured; with a float64
mask it agrees to 4e-15), so a float64 reference is not ``transformers``' network.

``transformers`` returns only the last prediction; the intermediate ones (made before each masked
block, which build the attention masks) are recorded by wrapping its ``predict`` method, so that
the class and mask logits of *every* prediction are compared. Compared modes:

- evaluation with every mask probability 1 (masked attention in both masked blocks, the network
  at the start of training), 0 (annealed: no mask, no intermediate prediction: inference), and
  ``[0, 1]`` (the first block released, as the staggered schedule does);
- training mode with probabilities ``0.5`` and ``0.3``: each query's mask is dropped at random, by
  the same ``torch.rand(B, Q) > p`` draw from the global generator in both, so the same seed gives
  the same outputs (and another seed other ones);
- the SwiGLU feed-forward variant (ViT-g's), whose gate and up projections are stacked into one.

The loss is the set criterion of Mask2Former applied to every prediction: ``transformers``'
``EomtLoss`` on the three predictions (intermediate ones first) equals segedu's
:class:`~segedu.models.universal.mask2former.MaskSetCriterion` on the same three in the same
order from the same seed (the random points are drawn in that order).
"""

from __future__ import annotations

import math

import pytest
import torch

from segedu.models.universal.eomt import Eomt, convert_transformers_state_dict
from segedu.models.universal.mask2former import MaskSetCriterion

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=1e-4)  # float32
SIZE = dict(num_classes=4, image_size=48, patch_size=8, dim=32, depth=3, num_heads=4,
            num_register_tokens=2, num_queries=5, num_blocks=2, num_upscale=2)


def hf_config(**overrides):
    config = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, image_size=48,
                  patch_size=8, num_register_tokens=2, num_queries=5, num_blocks=2,
                  num_upscale_blocks=2, num_labels=4, train_num_points=64)
    return transformers.EomtConfig(**{**config, **overrides})


@torch.no_grad()
def randomize_(reference, seed: int):
    """Unit-gain random weights (module docstring), in place."""
    generator = torch.Generator().manual_seed(seed)
    for key, value in reference.state_dict().items():
        if key in ("attn_mask_probs", "criterion.empty_weight"):
            continue
        if key.endswith(("cls_token", "register_tokens", "query.weight",
                         "position_embeddings.weight")):
            value.copy_(torch.randn(value.shape, generator=generator))
        elif value.ndim >= 2:
            value.copy_(torch.randn(value.shape, generator=generator) / math.sqrt(value[0].numel()))
        elif "norm" in key or "lambda1" in key:
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
        else:
            value.copy_(0.2 * torch.randn(value.shape, generator=generator))
    return reference


def make_pair(seed: int = 0, **overrides):
    reference = randomize_(transformers.EomtForUniversalSegmentation(hf_config(**overrides)),
                           seed).eval()
    model = Eomt(**SIZE, swiglu=overrides.get("use_swiglu_ffn", False)).eval()
    model.load_state_dict(convert_transformers_state_dict(reference.state_dict()))
    return reference, model


@pytest.fixture(scope="module")
def pair():
    """``(reference, segedu's EoMT)`` with the same random weights, evaluation mode."""
    return make_pair()


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))


def set_probs(reference, model, probs):
    for net in (reference, model):
        net.attn_mask_probs.copy_(torch.tensor(probs, dtype=net.attn_mask_probs.dtype))


def reference_outputs(reference, model, images, **labels):
    """Every prediction of the reference, in segedu's format (module docstring)."""
    predictions = []
    predict = reference.predict

    def recording(tokens):
        masks, classes = predict(tokens)
        predictions.append({"pred_logits": classes, "pred_masks": masks})
        return masks, classes

    reference.predict = recording
    try:
        with torch.no_grad():
            out = reference(pixel_values=(images - model.pixel_mean) / model.pixel_std, **labels)
    finally:
        del reference.predict  # back to the class's method
    *aux, last = predictions
    torch.testing.assert_close(last["pred_logits"], out.class_queries_logits, rtol=0, atol=0)
    return {**last, "aux_outputs": aux, "loss": out.loss}


def assert_same(ours, theirs, num_aux):
    assert len(ours["aux_outputs"]) == len(theirs["aux_outputs"]) == num_aux
    for mine, other in zip([ours, *ours["aux_outputs"]], [theirs, *theirs["aux_outputs"]],
                           strict=True):
        for key in ("pred_logits", "pred_masks"):
            torch.testing.assert_close(mine[key], other[key], **TOL)


@pytest.mark.parametrize("probs, num_aux", [([1.0, 1.0], 2), ([0.0, 0.0], 0), ([0.0, 1.0], 1)],
                         ids=["masked", "annealed", "first-released"])
def test_eomt_equals_transformers_in_evaluation(pair, images, probs, num_aux):
    reference, model = pair
    set_probs(reference, model, probs)
    theirs = reference_outputs(reference, model, images)
    with torch.no_grad():
        ours = model(images)
    assert ours["pred_logits"].shape == (2, 5, 5) and ours["pred_masks"].shape == (2, 5, 24, 24)
    assert_same(ours, theirs, num_aux)


def test_a_released_block_after_a_masked_one_is_where_the_two_differ(pair, images):
    """Probabilities ``[1, 0]`` (never reached by the staggered schedule, which releases the first
    block first): ``transformers`` runs the released block with the previous block's attention
    mask, segedu without one. The first block's prediction agrees, the last one does not."""
    reference, model = pair
    set_probs(reference, model, [1.0, 0.0])
    theirs = reference_outputs(reference, model, images)
    with torch.no_grad():
        ours = model(images)
    torch.testing.assert_close(ours["aux_outputs"][0]["pred_masks"],
                               theirs["aux_outputs"][0]["pred_masks"], **TOL)
    assert (ours["pred_masks"] - theirs["pred_masks"]).abs().max() > 1e-2


def test_masked_attention_changes_the_prediction(pair, images):
    """The masks do act: the masked and the annealed network predict differently."""
    reference, model = pair
    outputs = []
    for probs in ([1.0, 1.0], [0.0, 0.0]):
        set_probs(reference, model, probs)
        with torch.no_grad():
            outputs.append(model(images)["pred_masks"])
    assert (outputs[0] - outputs[1]).abs().max() > 1e-2


def test_eomt_equals_transformers_in_training_with_random_release(pair, images):
    """Training mode, mask probabilities 0.5 and 0.3: the same seed gives both the same random
    release of queries, hence the same outputs; another seed changes them."""
    reference, model = pair
    set_probs(reference, model, [0.5, 0.3])
    reference.train(), model.train()
    try:
        torch.manual_seed(3)
        theirs = reference_outputs(reference, model, images)
        torch.manual_seed(3)
        with torch.no_grad():
            ours = model(images)
        assert_same(ours, theirs, 2)
        torch.manual_seed(4)
        with torch.no_grad():
            other = model(images)
        assert (other["pred_masks"] - ours["pred_masks"]).abs().max() > 1e-3
    finally:
        reference.eval(), model.eval()


def test_swiglu_variant_equals_transformers(images):
    reference, model = make_pair(seed=5, use_swiglu_ffn=True)
    set_probs(reference, model, [1.0, 1.0])
    with torch.no_grad():
        ours = model(images)
    assert_same(ours, reference_outputs(reference, model, images), 2)


def test_loss_is_transformers_eomt_loss(pair, images):
    """``transformers``' loss (sum over the three predictions of 2 CE + 5 BCE + 5 Dice) equals the
    set criterion on the same predictions, drawn in the same order from the same seed."""
    reference, model = pair
    set_probs(reference, model, [1.0, 1.0])  # no random release: the seed feeds the points only
    targets = [model.targets(torch.stack([torch.randint(0, 4, (48, 48)),
                                          torch.randint(0, 3, (48, 48))], dim=-1))
               for _ in range(2)]
    labels = dict(mask_labels=[t["masks"].float() for t in targets],
                  class_labels=[t["labels"] for t in targets])
    torch.manual_seed(7)
    theirs = reference_outputs(reference, model, images, **labels)
    with torch.no_grad():
        ours = model(images)
    criterion = MaskSetCriterion(num_classes=4, num_points=64)
    torch.manual_seed(7)
    total = sum(criterion.total(criterion({k: p[k] for k in ("pred_logits", "pred_masks")},
                                          targets))
                for p in [*ours["aux_outputs"], ours])
    torch.testing.assert_close(total, theirs["loss"], atol=1e-5, rtol=1e-5)
    # the model's own loss covers the same predictions (the last one and both intermediate)
    losses = model.loss(ours, targets)
    assert {"loss_ce", "loss_ce_0", "loss_ce_1", "loss_dice_1"} <= set(losses)
    assert torch.isfinite(model.total_loss(losses))


@pytest.mark.parametrize("key", ["blocks.2.attn.qkv.weight", "blocks.0.ls2.gamma",
                                 "embeddings.pos_embed", "query.weight",
                                 "head.mask_head.layers.2.weight", "head.upscale.1.conv2.weight",
                                 "head.upscale.0.norm.bias", "head.class_head.bias"])
def test_a_changed_weight_fails_the_comparison(pair, images, key):
    """One entry of one weight changed fails the comparison. (One entry: adding a constant to a
    whole token, e.g. to every entry of ``query.weight`` or ``pos_embed``, changes nothing, since
    every LayerNorm that reads the residual stream subtracts the mean over the channels.)"""
    reference, model = pair
    set_probs(reference, model, [1.0, 1.0])
    theirs = reference_outputs(reference, model, images)
    changed = Eomt(**SIZE).eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.state_dict(keep_vars=True)[key].view(-1)[0] += 0.5
        ours = changed(images)
    with pytest.raises(AssertionError):
        assert_same(ours, theirs, 2)


def test_a_converter_that_swaps_queries_and_keys_fails(pair, images):
    """Queries and keys swapped in the last block (where the queries are): the comparison fails."""
    reference, model = pair
    set_probs(reference, model, [1.0, 1.0])
    theirs = reference_outputs(reference, model, images)
    state = convert_transformers_state_dict(reference.state_dict())
    weight = state["blocks.2.attn.qkv.weight"]
    state["blocks.2.attn.qkv.weight"] = torch.cat([weight[32:64], weight[:32], weight[64:]])
    swapped = Eomt(**SIZE).eval()
    swapped.load_state_dict(state)
    with torch.no_grad():
        ours = swapped(images)
    with pytest.raises(AssertionError):
        assert_same(ours, theirs, 2)


def test_every_key_is_mapped_and_an_unknown_one_is_named(pair):
    reference, model = pair
    converted = convert_transformers_state_dict(reference.state_dict())
    assert set(converted) == set(model.state_dict())
    for key, value in converted.items():
        assert value.shape == model.state_dict()[key].shape, key
    state = dict(reference.state_dict())
    state["segmentation_head.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="segmentation_head.weight"):
        convert_transformers_state_dict(state)
    with pytest.raises(TypeError, match="mapping"):
        convert_transformers_state_dict([("query.weight", torch.zeros(1))])


def test_bad_input_is_named(pair):
    _, model = pair
    with pytest.raises(ValueError, match="48 x 48"):
        model(torch.rand(1, 3, 32, 48))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 48, 48))
    with pytest.raises(TypeError, match="float"):
        model(torch.zeros(1, 3, 48, 48, dtype=torch.uint8))
    with pytest.raises(ValueError, match="num_blocks"):
        Eomt(**{**SIZE, "num_blocks": 4})
    with pytest.raises(ValueError, match="multiple of patch_size"):
        Eomt(**{**SIZE, "image_size": 50})


def test_the_paper_model_has_transformers_parameters(monkeypatch):
    """``eomt_large_640`` (on the meta device: no memory) holds exactly the tensors of
    ``transformers``' COCO panoptic EoMT-L under the converter's names, and its official
    checkpoint is the ``model.safetensors`` of the repository ``transformers`` names, read through
    the same converter (the download replaced by ``transformers``' own state dict)."""
    from segedu.models import registry

    with torch.device("meta"):
        ours = registry.get_model("eomt_large_640")
        theirs = transformers.EomtForUniversalSegmentation(transformers.EomtConfig(num_labels=133))
    assert sum(p.numel() for p in ours.parameters()) == 316_695_686
    assert sum(p.numel() for p in theirs.parameters()) == 316_695_686
    converted = convert_transformers_state_dict(theirs.state_dict())
    assert {k: tuple(v.shape) for k, v in converted.items()} == {
        k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert registry.official_url("eomt_large_640") == (
        "https://huggingface.co/tue-mps/coco_panoptic_eomt_large_640/resolve/main/"
        "model.safetensors")
    monkeypatch.setattr(registry, "_safetensors_state_dict", lambda *_: theirs.state_dict())
    assert set(registry.official_state_dict("eomt_large_640")) == set(ours.state_dict())
