"""segedu's OneFormer against ``transformers``' ``OneFormerForUniversalSegmentation``, with the
same weights loaded through ``get_model(..., weights=<file>)`` and the converter.

One tiny configuration: a Swin of width 16, depths (1, 2, 1, 1), window 2 on 64 x 64 images
(grids 16, 8, 4, 2: multiples of the window, the second stage with a shifted block), pixel decoder
and queries of width 64, 4 heads, one deformable encoder layer, 3 masked-attention layers
(``transformers``' ``decoder_layers=4``), a 2-layer query transformer, 6 queries (the task
token included), 4 classes, 8-token prompts, and the training text mapper (width 64, one layer,
2 context entries, so 4 texts per image). ``transformers``' model gets random weights of unit gain
(``N(0, 1 / fan_in)`` matrices, norms in ``[0.5, 1.5]``, vectors ``N(0, 0.2)``), is saved with
``torch.save`` and loaded with ``get_model("oneformer_swin_tiny", weights=file, **TINY)``.
``transformers`` takes normalised pixels and token ids; segedu ``[0, 1]`` images and task names.

Float32, ``atol=1e-5, rtol=1e-4`` (measured differences: 2e-6). Compared: for each task, the class
and mask logits of the final prediction and of every auxiliary one, the decoder's input queries
(the contrastive queries) and the text queries; in training mode, the query-text contrastive loss
and the whole weighted loss (set criterion on every prediction + 0.5 x contrastive), both drawing
their random points from the same seed.

Where the two disagree, and why (each pinned below):

- ``transformers`` keeps the transformer module's three ``input_projections`` in a plain Python
  list, so they are not in its state dict: with ``conv_dim != hidden_dim`` its outputs depend on
  convolutions no checkpoint holds. Every published model has ``conv_dim == hidden_dim`` (256),
  where they are identities; the tiny configuration keeps them equal (64) for the same reason.
- ``transformers`` requires ``text_inputs`` whenever its config has ``is_training=True``, even in
  evaluation; segedu runs the text mapper only when given text ids.
- its text encoder builds CLIP's causal mask and never applies it, while the original
  (SHI-Labs/OneFormer's ``TextTransformer``) does; segedu follows the original, and the tiny
  configuration sets ``causal=False`` to compare with ``transformers`` (the causal encoder is
  checked on its own below: the padding after the end token cannot change it);
- its image processor fills the text list with "an panoptic photo", the original with "a panoptic
  photo"; segedu writes the original's (the comparison passes token ids to both, so it is not
  affected).

The CLIP token ids of the prompts (``"the task is semantic"`` -> 49406, 518, 10549, 533, 29119,
1550, 49407) were read off CLIP's merges (``bpe_simple_vocab_16e6``) with ``transformers``'
``CLIPTokenizer`` once; here they are pinned, and the padding, the start and end tokens and the
truncation are checked against ``OneFormerProcessor._preprocess_text`` with a ``CLIPTokenizer``
built from a vocabulary the test writes.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from segedu.models import get_model
from segedu.models.universal.oneformer import (
    OneFormer,
    TaskEncoder,
    clip_token_ids,
    convert_transformers_state_dict,
    task_token_ids,
    text_list,
)
from segedu.models.universal.oneformer.text_encoder import TextEncoder

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=1e-4)  # float32
TINY = dict(num_classes=4, backbone=dict(embed_dim=16, depths=(1, 2, 1, 1),
                                         num_heads=(1, 2, 2, 4), window_size=2,
                                         drop_path_rate=0.0),
            conv_dim=64, hidden_dim=64, num_queries=6, num_heads=4, encoder_layers=1,
            encoder_ffn_dim=48, decoder_layers=3, decoder_ffn_dim=40, query_layers=2,
            task_seq_len=8, text_mapper=dict(width=64, context_length=8, num_layers=1, num_ctx=2,
                                             causal=False),
            criterion=dict(num_points=64))
TASKS = ("semantic", "instance", "panoptic")
NAMES = ["sky", "grass", "water", "circle", "rectangle", "triangle"]


def hf_config(**overrides):
    swin = transformers.SwinConfig(image_size=64, embed_dim=16, depths=[1, 2, 1, 1],
                                   num_heads=[1, 2, 2, 4], window_size=2, drop_path_rate=0.0,
                                   out_features=["stage1", "stage2", "stage3", "stage4"])
    config = dict(backbone_config=swin, num_labels=4, num_queries=6, conv_dim=64, mask_dim=64,
                  hidden_dim=64, encoder_feedforward_dim=48, dim_feedforward=40,
                  encoder_layers=1, decoder_layers=4, num_attention_heads=4,
                  text_encoder_width=64, text_encoder_context_length=8,
                  text_encoder_num_layers=1, text_encoder_proj_layers=2, text_encoder_n_ctx=2,
                  task_seq_len=8, query_dec_layers=2, is_training=True, dropout=0.0,
                  train_num_points=64)
    return transformers.OneFormerConfig(**{**config, **overrides})


@torch.no_grad()
def randomize_(reference, seed: int):
    """Unit-gain random weights (module docstring), in place."""
    generator = torch.Generator().manual_seed(seed)
    for key, value in reference.state_dict().items():
        if key in ("criterion.empty_weight", "criterion.logit_scale"):
            continue
        if value.ndim >= 2:
            value.copy_(torch.randn(value.shape, generator=generator) / math.sqrt(value[0].numel()))
        elif "norm" in key:
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
        else:
            value.copy_(0.2 * torch.randn(value.shape, generator=generator))
    return reference


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``(reference, segedu's OneFormer)``: the reference's random weights saved in its format and
    loaded by ``get_model`` through the converter; evaluation mode."""
    reference = randomize_(transformers.OneFormerForUniversalSegmentation(hf_config()), 0).eval()
    path = tmp_path_factory.mktemp("oneformer") / "reference.pt"
    torch.save(reference.state_dict(), path)
    model = get_model("oneformer_swin_tiny", weights=path, **TINY).eval()
    return reference, model


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def texts(pair):
    """The two images' text lists as token ids ``(2, 4, 8)``."""
    return pair[1].text_ids([[5, 0], [2]], class_names=NAMES, tasks=["panoptic", "semantic"])


def reference_outputs(reference, model, images, tasks, texts, **labels):
    """The reference's outputs in segedu's format (its weighted loss dict recorded by wrapping
    ``get_loss_dict``, which the output does not return)."""
    recorded = {}
    get_loss_dict = reference.get_loss_dict

    def recording(**kwargs):
        recorded.update(get_loss_dict(**kwargs))
        return recorded

    reference.get_loss_dict = recording
    try:
        out = reference(pixel_values=(images - model.pixel_mean) / model.pixel_std,
                        task_inputs=task_token_ids(tasks, length=8), text_inputs=texts, **labels)
    finally:
        del reference.get_loss_dict  # back to the class's method
    aux = [{"pred_logits": a["class_queries_logits"], "pred_masks": a["masks_queries_logits"]}
           for a in out.auxiliary_predictions]
    return {"pred_logits": out.class_queries_logits, "pred_masks": out.masks_queries_logits,
            "aux_outputs": aux, "contrastive_queries": out.transformer_decoder_contrastive_queries,
            "text_queries": out.text_queries, "loss": out.loss, "loss_dict": recorded}


def assert_same(ours, theirs):
    assert len(ours["aux_outputs"]) == len(theirs["aux_outputs"]) == 3
    for mine, other in zip([ours, *ours["aux_outputs"]], [theirs, *theirs["aux_outputs"]],
                           strict=True):
        for key in ("pred_logits", "pred_masks"):
            torch.testing.assert_close(mine[key], other[key], **TOL)
    for key in ("contrastive_queries", "text_queries"):
        torch.testing.assert_close(ours[key], theirs[key], **TOL)


@pytest.mark.parametrize("task", TASKS)
def test_oneformer_equals_transformers_for_each_task(pair, images, texts, task):
    reference, model = pair
    with torch.no_grad():
        theirs = reference_outputs(reference, model, images, [task, task], texts)
        ours = model(images, task=task, text_ids=texts)
    assert ours["pred_logits"].shape == (2, 6, 5) and ours["pred_masks"].shape == (2, 6, 16, 16)
    assert ours["contrastive_queries"].shape == ours["text_queries"].shape == (2, 6, 64)
    assert_same(ours, theirs)


def test_the_task_token_changes_the_prediction_and_is_per_image(pair, images):
    """Each prompt gives other queries, hence other masks (by about 1e-2 with these random
    weights: the prompts share their first four tokens and the task MLP reads the raw ids, so the
    three task tokens differ little before training); a batch may mix tasks."""
    _, model = pair
    with torch.no_grad():
        outputs = {task: model(images, task=task) for task in TASKS}
        mixed = model(images, task=["semantic", "instance"])
    for a, b in (("semantic", "instance"), ("instance", "panoptic"), ("semantic", "panoptic")):
        assert (outputs[a]["pred_masks"] - outputs[b]["pred_masks"]).abs().max() > 1e-3
    torch.testing.assert_close(mixed["pred_masks"][0], outputs["semantic"]["pred_masks"][0])
    torch.testing.assert_close(mixed["pred_masks"][1], outputs["instance"]["pred_masks"][1])
    # the task token is the last query, the first Q - 1 come from the query transformer
    assert not torch.allclose(outputs["semantic"]["contrastive_queries"][:, -1],
                              outputs["instance"]["contrastive_queries"][:, -1])


def labels_of(model):
    generator = torch.Generator().manual_seed(5)
    targets = [model.targets(torch.stack([torch.randint(0, 4, (64, 64), generator=generator),
                                          torch.randint(0, 3, (64, 64), generator=generator)],
                                         dim=-1)) for _ in range(2)]
    return targets, dict(mask_labels=[t["masks"].float() for t in targets],
                         class_labels=[t["labels"] for t in targets])


def test_training_losses_equal_transformers(pair, images, texts):
    """Training mode (no dropout, no drop path): ``transformers``' loss dict, each entry weighted
    (class 2, mask 5, Dice 5, contrastive 0.5), against segedu's unweighted losses, the random
    points drawn in the same order from the same seed; and the two totals."""
    reference, model = pair
    targets, labels = labels_of(model)
    reference.train(), model.train()
    try:
        torch.manual_seed(7)
        theirs = reference_outputs(reference, model, images, ["panoptic", "semantic"], texts,
                                   **labels)
        torch.manual_seed(7)
        ours = model(images, task=["panoptic", "semantic"], text_ids=texts)
        losses = model.loss(ours, targets)
    finally:
        reference.eval(), model.eval()
    weights = {"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0, "loss_contrastive": 0.5}
    # transformers calls the class loss loss_cross_entropy, segedu (as the original) loss_ce
    their_losses = {key.replace("loss_cross_entropy", "loss_ce"): value
                    for key, value in theirs["loss_dict"].items()}
    assert set(their_losses) == set(losses)
    for key, value in losses.items():
        weight = next(w for name, w in weights.items() if key.startswith(name))
        torch.testing.assert_close(weight * value, their_losses[key].reshape(()), atol=1e-5,
                                   rtol=1e-5)
    assert losses["loss_contrastive"] > 0.1  # two different images: a real contrast
    torch.testing.assert_close(model.total_loss(losses), theirs["loss"].reshape(()), atol=1e-5,
                               rtol=1e-5)


def test_transformers_does_not_save_its_decoder_input_projections(pair):
    """The first disagreement of the module docstring, pinned: a plain list, no state-dict keys
    (identities here, as in every published model)."""
    reference, model = pair
    projections = reference.model.transformer_module.input_projections
    assert isinstance(projections, list) and not isinstance(projections, torch.nn.Module)
    assert not any("input_projections" in key and "transformer_module" in key
                   for key in reference.state_dict())
    assert all(isinstance(p, torch.nn.Identity) for p in model.predictor.input_proj)


def test_a_batch_of_one_has_no_contrast(pair, images, texts):
    _, model = pair
    with torch.no_grad():
        out = model(images[:1], text_ids=texts[:1])
    assert model.contrastive(out["contrastive_queries"], out["text_queries"]) == 0


@pytest.mark.parametrize("key, index", [
    ("backbone.swin.stages.1.blocks.1.attn.qkv.weight", 0),
    ("backbone.swin.stages.1.blocks.1.attn.relative_position_bias_table", 0),
    ("backbone.swin.stages.2.downsample.reduction.weight", 0),
    ("backbone.norms.0.bias", 0),
    ("pixel_decoder.transformer.encoder.layers.0.self_attn.sampling_offsets.bias", 0),
    ("pixel_decoder.adapter_1.weight", 0),
    ("task_encoder.mlp.layers.0.weight", 0),
    ("predictor.query_transformer.layers.1.cross_attention.multihead_attn.in_proj_weight", 0),
    ("predictor.query_input_proj.weight", 0),
    ("predictor.query_embed.weight", 0),
    ("predictor.transformer_self_attention_layers.2.self_attn.in_proj_weight", 2 * 64 * 64),
    ("predictor.mask_embed.layers.2.weight", 100),
    ("text_mapper.text_encoder.layers.0.self_attn.in_proj_weight", 0),
    ("text_mapper.text_encoder.positional_embedding", 0),
    ("text_mapper.prompt_ctx.weight", 0),
])
def test_a_changed_weight_fails_the_comparison(pair, images, texts, key, index):
    """One entry of one weight changed by 0.5: the comparison fails. The entry is the first,
    except where the first one barely acts with these random weights: in the last self-attention
    the first *value* weight (the query weights move the masks by 1e-5 only, since the queries,
    all grown from one task token, are alike), in the mask MLP's last layer the weight from a
    hidden unit that the ReLU keeps alive (units 0 .. 5 are 0 on every query)."""
    reference, model = pair
    with torch.no_grad():
        theirs = reference_outputs(reference, model, images, ["instance"] * 2, texts)
        changed = OneFormer(**TINY).eval()
        changed.load_state_dict(model.state_dict())
        changed.state_dict(keep_vars=True)[key].view(-1)[index] += 0.5
        ours = changed(images, task="instance", text_ids=texts)
    with pytest.raises(AssertionError):
        assert_same(ours, theirs)


def test_a_changed_temperature_changes_the_contrastive_loss(pair):
    _, model = pair
    queries, text = torch.randn(2, 2, 6, 64, generator=torch.Generator().manual_seed(3))
    loss = model.contrastive(queries, text)
    with torch.no_grad():
        model.contrastive.logit_scale += 0.5
    try:
        assert (model.contrastive(queries, text) - loss).abs() > 1e-3
    finally:
        with torch.no_grad():
            model.contrastive.logit_scale -= 0.5


def test_every_key_is_mapped_and_an_unknown_one_is_named(pair):
    reference, model = pair
    converted = convert_transformers_state_dict(reference.state_dict())
    assert set(converted) == set(model.state_dict())
    for key, value in converted.items():
        assert value.shape == model.state_dict()[key].shape, key
    state = dict(reference.state_dict())
    state["model.segmentation_head.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="segmentation_head.weight"):
        convert_transformers_state_dict(state)
    state = dict(reference.state_dict())
    del state["model.transformer_module.decoder.layers.0.self_attn.self_attn.k_proj.weight"]
    with pytest.raises(ValueError, match="needs q, k and v"):
        convert_transformers_state_dict(state)
    with pytest.raises(TypeError, match="mapping"):
        convert_transformers_state_dict([("a", torch.zeros(1))])


def test_the_prompt_ids_are_clips_and_formatted_as_the_processor_does(tmp_path):
    # CLIP's byte-pair tokens of the prompt words (module docstring)
    assert task_token_ids(TASKS, length=8).tolist() == [
        [49406, 518, 10549, 533, 29119, 1550, 49407, 0],
        [49406, 518, 10549, 533, 34572, 49407, 0, 0],
        [49406, 518, 10549, 533, 1072, 24755, 49407, 0]]
    # the processor's formatting, with a CLIPTokenizer whose vocabulary the test writes: each
    # word one token (id 100 + its index), reached by a chain of merges from its first letter
    words = ["a", "an", "circle", "instance", "is", "panoptic", "photo", "rectangle", "task",
             "the", "with"]
    vocab, merges = {"<|startoftext|>": 49406, "<|endoftext|>": 49407}, []
    for word in words:
        chars = list(word[:-1]) + [word[-1] + "</w>"]
        for k in range(len(chars)):
            vocab.setdefault(chars[k], 1000 + len(vocab))
            vocab.setdefault("".join(chars[:k + 1]), 1000 + len(vocab))
        merges += [f"{''.join(chars[:k])} {chars[k]}" for k in range(1, len(chars))]
    vocab.update({f"{word}</w>": 100 + i for i, word in enumerate(words)})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)))
    tokenizer = transformers.CLIPTokenizer(str(tmp_path / "vocab.json"),
                                           str(tmp_path / "merges.txt"))
    processor = transformers.OneFormerProcessor.__new__(transformers.OneFormerProcessor)
    processor.tokenizer = tokenizer
    texts = ["the task is instance", "A photo with a circle", "an panoptic photo"] + [
        " ".join(["a photo with a rectangle"] * 3)]  # longer than 8: cut, end token kept
    expected = processor._preprocess_text(texts, max_length=8)
    got = clip_token_ids(texts, length=8, tokenizer=lambda text: [
        100 + words.index(w) for w in text.lower().split()])
    assert torch.equal(got, expected), (got, expected)


def test_text_lists_as_the_original_writes_them():
    """Grouped by class in the class list's order (not the targets'), then the task's filler."""
    assert text_list([3, 0, 3], class_names=NAMES, task="panoptic", num_texts=5) == [
        "a photo with a sky", "a photo with a circle", "a photo with a circle",
        "a panoptic photo", "a panoptic photo"]
    assert text_list([2, 1, 0], class_names=NAMES, task="semantic", num_texts=2) == [
        "a photo with a sky", "a photo with a grass"]
    assert text_list([], class_names=NAMES, task="instance", num_texts=1) == ["an instance photo"]
    with pytest.raises(ValueError, match="labels must index"):
        text_list([6], class_names=NAMES, task="instance", num_texts=1)


def test_the_causal_text_encoder_ignores_the_padding_and_the_port_does_not():
    """The original's causal text encoder: what follows the end token (zero padding, or anything)
    cannot change the text's vector; ``transformers``' bidirectional one (``causal=False``) is
    changed by it. With one layer, both agree on a text that fills the whole context (its end
    token, last, reads every token either way)."""
    torch.manual_seed(0)
    causal = TextEncoder(context_length=8, width=64, num_layers=1, vocab_size=49408).eval()
    bidirectional = TextEncoder(context_length=8, width=64, num_layers=1, vocab_size=49408,
                                causal=False).eval()
    bidirectional.load_state_dict(causal.state_dict())
    ids = clip_token_ids(["a photo with a sky"], length=8)  # 7 tokens, one zero
    other = ids.clone()
    other[0, -1] = 1125  # a token after the end token
    full = clip_token_ids(["a photo with a rectangle"], length=8)  # 8 tokens, the end last
    with torch.no_grad():
        torch.testing.assert_close(causal(ids), causal(other), rtol=0, atol=0)
        assert (bidirectional(ids) - bidirectional(other)).abs().max() > 1e-3
        torch.testing.assert_close(causal(full), bidirectional(full))


def test_bad_input_is_named(pair, images):
    _, model = pair
    with pytest.raises(ValueError, match="task must be one of"):
        model(images, task="depth")
    with pytest.raises(ValueError, match="one per image"):
        model(images, task=["semantic"])
    with pytest.raises(ValueError, match="no CLIP tokens known for the word 'zebra'"):
        clip_token_ids(["a photo with a zebra"])
    with pytest.raises(TypeError, match="sequence"):
        task_token_ids("semantic")
    inference_only = OneFormer(**{**TINY, "text_mapper": None}).eval()
    with pytest.raises(ValueError, match="no text mapper"):
        inference_only(images, text_ids=torch.zeros(2, 4, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="must be equal"):
        OneFormer(**{**TINY, "text_mapper": dict(width=128, context_length=8, num_ctx=2)})
    with pytest.raises(ValueError, match="num_classes"):
        OneFormer(**{**TINY, "num_classes": 0})


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_equal_transformers():
    """The tiny model, and (on the meta device: no memory) the registered Swin-T (ADE20K, no text
    mapper) and the paper's Swin-L (COCO, with the text mapper), count as many parameters as
    ``transformers``' models of the same configuration, less the Swin's final LayerNorm, which
    ``transformers`` holds and ``SwinBackbone`` never uses (2 x the last stage's width)."""
    tiny = OneFormer(**TINY)
    reference = transformers.OneFormerForUniversalSegmentation(hf_config())
    assert n_params(tiny) == n_params(reference) - 2 * 128 == 3_842_001
    with torch.device("meta"):
        swin_t = get_model("oneformer_swin_tiny")
        swin_l = get_model("oneformer_swin_large")
        ref_t = transformers.OneFormerForUniversalSegmentation(
            transformers.OneFormerConfig(num_labels=150))
        swin = transformers.SwinConfig(embed_dim=192, depths=[2, 2, 18, 2],
                                       num_heads=[6, 12, 24, 48], window_size=12,
                                       out_features=["stage1", "stage2", "stage3", "stage4"])
        ref_l = transformers.OneFormerForUniversalSegmentation(
            transformers.OneFormerConfig(backbone_config=swin, num_labels=133, is_training=True))
    assert n_params(swin_t) == n_params(ref_t) - 2 * 768 == 50_736_402
    assert n_params(swin_l) == n_params(ref_l) - 2 * 1536 == 236_324_091
    # the inference network, without the training-only text mapper (mostly CLIP's token table)
    assert n_params(swin_l) - n_params(swin_l.text_mapper) == 218_781_179


def test_the_slim_model_trains_one_step():
    """The zoo's ``oneformer`` on two 64 x 64 scenes with different tasks: shapes, its recorded
    parameter count, and a finite loss whose gradient reaches the task MLP, the text mapper and
    the temperature (the parts Mask2Former does not have)."""
    torch.manual_seed(0)
    model = get_model("oneformer", criterion=dict(num_points=64))
    assert n_params(model) == 5_488_155
    assert n_params(model.text_mapper) == 3_272_064
    images = torch.rand(2, 3, 64, 64)
    targets, _ = labels_of(model)
    texts = model.text_ids([t["labels"] for t in targets], class_names=NAMES,
                           tasks=["semantic", "panoptic"])
    assert texts.shape == (2, 50 - 8, 16)
    out = model(images, task=["semantic", "panoptic"], text_ids=texts)
    assert out["pred_logits"].shape == (2, 50, 7) and out["pred_masks"].shape == (2, 50, 16, 16)
    loss = model.total_loss(model.loss(out, targets))
    loss.backward()
    assert torch.isfinite(loss)
    for part in (model.task_encoder, model.text_mapper.text_projector, model.contrastive):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_the_task_token_reads_the_ids_in_float32_under_autocast():
    # bfloat16 would read the ids rounded (49407 as 49408, 10549 as 10560): a task token in
    # training (autocast on a GPU) unlike the one of evaluation
    encoder = TaskEncoder(seq_len=77, dim=32)
    ids = task_token_ids(["semantic", "instance", "panoptic"])
    assert torch.tensor(10549.0).bfloat16().item() == 10560
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = encoder(ids)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, encoder(ids), rtol=0, atol=0)
