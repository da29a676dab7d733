"""segedu's CLIPSeg against ``transformers``' ``CLIPSegForImageSegmentation``, same weights.

A tiny CLIPSeg (image encoder: 32-pixel images, 8-pixel patches, width 32, 4 layers of which 0 and
2 are extracted; text encoder: 50 ids, width 32, 2 layers; joint space 24; decoder width 16, the
refined up-sampling) gets random weights of unit gain (``tests/models/unit_gain.py``), so that no
LayerNorm is the identity and no attention is flat;
:func:`~segedu.models.foundation.clipseg.convert_transformers_state_dict` loads them into
segedu's :class:`~segedu.models.foundation.clipseg.CLIPSeg`. The comparison covers

- text prompts, a batch of two of different lengths (the shorter one right-padded), under both
  end-of-text rules: ``transformers`` takes the argmax of the ids when ``eos_token_id == 2`` (its
  legacy rule, for configurations written before its PR #24773) and the first ``eos_token_id``
  otherwise; segedu's ``eos_token_id=None`` and ``eos_token_id=49`` (the highest id here, so
  both find the same position, as with CLIP's tokenizer);
- visual prompts (``conditional_pixel_values``: CLIP's image embedding of an example image);
- images of the training size (no interpolation) and larger ones (48 x 48: the positional
  embeddings resized bicubically from 4 x 4 to 6 x 6 patches).

segedu stops the image encoder after the deepest extracted layer (layer 2 of 4, as the original
CLIPSeg); ``transformers`` runs all four: the logits are the same. The tolerance is
``atol=1e-5, rtol=1e-4`` (float32); the largest differences measured are in the docstring of
:func:`test_same_logits_for_text_prompts`.
"""

from __future__ import annotations

import pytest
import torch

from segedu.models.foundation.clipseg import (
    CLIPSeg,
    CLIPSegConfig,
    WordVocabulary,
    causal_mask,
    convert_transformers_state_dict,
)
from segedu.models.registry import get_model

from ...unit_gain import unit_gain_

transformers = pytest.importorskip("transformers")

TOL = dict(atol=1e-5, rtol=1e-4)
EOS = 49  # the highest id of the 50


def reference_config(*, eos_token_id: int):
    text = dict(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, eos_token_id=eos_token_id,
                pad_token_id=0, bos_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                  num_attention_heads=4, image_size=32, patch_size=8)
    return transformers.CLIPSegConfig(
        text_config=text, vision_config=vision, projection_dim=24, extract_layers=[0, 2],
        reduce_dim=16, decoder_num_attention_heads=2, decoder_intermediate_size=40,
        use_complex_transposed_convolution=True)


SEGEDU = CLIPSegConfig(img_size=32, patch_size=8, vision_width=32, vision_depth=4,
                       vision_heads=4, vision_mlp_dim=64, vocab_size=50, context_length=16,
                       text_width=32, text_depth=2, text_heads=4, text_mlp_dim=64, embed_dim=24,
                       extract_layers=(0, 2), reduce_dim=16, decoder_heads=2, decoder_mlp_dim=40,
                       refined=True)


@pytest.fixture(scope="module")
def reference():
    """``transformers``' tiny CLIPSeg (legacy argmax rule: ``eos_token_id == 2``), random."""
    model = transformers.CLIPSegForImageSegmentation(reference_config(eos_token_id=2)).eval()
    torch.manual_seed(0)
    return unit_gain_(model)


@pytest.fixture(scope="module")
def converted(reference):
    return convert_transformers_state_dict(reference.state_dict())


@pytest.fixture(scope="module")
def model(converted):
    model = CLIPSeg(config=SEGEDU).eval()
    model.load_state_dict(converted)
    return model


def prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Two prompts of 7 and 5 tokens: start 1, words in 2..48, end-of-text 49, then padding 0."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.zeros(2, 7, dtype=torch.int64)
    attention_mask = torch.zeros(2, 7, dtype=torch.int64)
    for row, length in enumerate((7, 5)):
        words = torch.randint(2, EOS, (length - 2,), generator=generator)
        input_ids[row, :length] = torch.cat([torch.tensor([1]), words, torch.tensor([EOS])])
        attention_mask[row, :length] = 1
    return input_ids, attention_mask


def images(size: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [32, 48])
def test_same_logits_for_text_prompts(reference, model, size):
    """Largest differences measured: 8.3e-7 (32 px) and 1.4e-6 (48 px) in the logits (whose
    largest values are 1.2 and 1.9), 7.7e-7 in the prompt embeddings; the image prompt: 1.3e-6
    and 6.0e-7. The failing cases of :func:`test_a_changed_weight_fails` move the logits by 6e-3
    (one weight + 0.1) and 0.50 (queries and keys swapped)."""
    input_ids, attention_mask = prompts()
    x = images(size)
    with torch.no_grad():
        expected = reference(input_ids=input_ids, pixel_values=x, attention_mask=attention_mask)
        actual = model(x, input_ids=input_ids, attention_mask=attention_mask)
    # the refined up-sampling enlarges by (p / 4)^2 = 4, not p = 8 (decoder.py's docstring)
    assert actual["logits"].shape == (2, size // 2, size // 2) == expected.logits.shape
    torch.testing.assert_close(actual["conditional_embeddings"], expected.conditional_embeddings,
                               **TOL)
    torch.testing.assert_close(actual["logits"], expected.logits, **TOL)


def test_same_logits_for_an_image_prompt(reference, model):
    x, example = images(32), images(32, seed=3)
    with torch.no_grad():
        expected = reference(pixel_values=x, conditional_pixel_values=example)
        actual = model(x, conditional_images=example)
    torch.testing.assert_close(actual["conditional_embeddings"], expected.conditional_embeddings,
                               **TOL)
    torch.testing.assert_close(actual["logits"], expected.logits, **TOL)


def test_first_end_of_text_rule(reference, converted):
    """``transformers`` with ``eos_token_id=49`` takes the first end-of-text position; so does
    segedu's ``eos_token_id=49``. The prompts are padded with the end-of-text id, as CLIP's
    tokenizer pads, so that a rule taking any other occurrence would read a padding token."""
    first = transformers.CLIPSegForImageSegmentation(reference_config(eos_token_id=EOS)).eval()
    first.load_state_dict(reference.state_dict())
    model = CLIPSeg(config=CLIPSegConfig(**{**SEGEDU.__dict__, "eos_token_id": EOS})).eval()
    model.load_state_dict(converted)
    input_ids, attention_mask = prompts()
    input_ids[attention_mask == 0] = EOS
    x = images(32)
    with torch.no_grad():
        expected = first(input_ids=input_ids, pixel_values=x, attention_mask=attention_mask)
        actual = model(x, input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(actual["logits"], expected.logits, **TOL)


def test_logits_per_prompt_pairs_every_image_with_every_prompt(model):
    input_ids, attention_mask = prompts()
    x = images(32)
    with torch.no_grad():
        grid = model.logits_per_prompt(x, input_ids=input_ids, attention_mask=attention_mask)
        for k in range(2):
            one = model(x, input_ids=input_ids[k:k + 1].expand(2, -1),
                        attention_mask=attention_mask[k:k + 1].expand(2, -1))["logits"]
            torch.testing.assert_close(grid[:, k], one, **TOL)
    assert grid.shape == (2, 2, 16, 16)


def test_every_key_is_mapped(reference, converted, model):
    expected = set(model.state_dict())
    assert set(converted) == expected
    kept = {k for k in reference.state_dict() if k != "clip.logit_scale"}
    # q, k, v weights and biases (6 keys) -> 2 stacked keys, in 2 + 4 + 2 layers
    assert len(kept) == len(expected) + 4 * (2 + 4 + 2)


def test_a_changed_weight_fails(reference, converted):
    """One weight of the decoder's last layer, or the query and key rows of one CLIP layer's
    projection swapped: the logits move beyond the tolerance."""
    input_ids, attention_mask = prompts()
    x = images(32)
    with torch.no_grad():
        expected = reference(input_ids=input_ids, pixel_values=x,
                             attention_mask=attention_mask).logits
    dim = SEGEDU.vision_width
    for change in ("one weight", "q and k swapped"):
        state = dict(converted)
        if change == "one weight":
            key = "decoder.layers.1.ffn.linear2.weight"
            state[key] = state[key].clone()
            state[key][0, 0] += 0.1
        else:
            key = "vision.layers.1.attn.qkv.weight"
            q, k, v = state[key].split(dim)
            state[key] = torch.cat([k, q, v])
        broken = CLIPSeg(config=SEGEDU).eval()
        broken.load_state_dict(state)
        with torch.no_grad():
            actual = broken(x, input_ids=input_ids, attention_mask=attention_mask)["logits"]
        with pytest.raises(AssertionError):
            torch.testing.assert_close(actual, expected, **TOL)


def test_causal_mask():
    mask = causal_mask(torch.tensor([[1, 1, 1], [1, 1, 0]]))
    assert mask.shape == (2, 1, 3, 3)
    assert mask[0, 0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert mask[1, 0, 2].tolist() == [True, True, False]  # padding is never read


def test_clear_errors(model, converted):
    x = images(32)
    input_ids, attention_mask = prompts()
    with pytest.raises(ValueError, match="exactly one prompt"):
        model(x)
    with pytest.raises(ValueError, match="exactly one prompt"):
        model(x, input_ids=input_ids, conditional_images=x)
    with pytest.raises(ValueError, match="one prompt per image"):
        model(x, input_ids=input_ids[:1])
    with pytest.raises(TypeError, match="int64"):
        model(x, input_ids=input_ids.float())
    with pytest.raises(ValueError, match="token ids must be in 0..49"):
        model(x, input_ids=input_ids + 10)
    with pytest.raises(ValueError, match="pad on the right"):
        model(x, input_ids=input_ids, attention_mask=attention_mask.flip(1))
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model(images(36), input_ids=input_ids)
    with pytest.raises(ValueError, match="no rule converts"):
        convert_transformers_state_dict({**converted, "decoder.head.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="extract_layers"):
        CLIPSegConfig(extract_layers=(9, 3))
    with pytest.raises(TypeError, match="unknown CLIPSeg settings"):
        get_model("clipseg_tiny", depth=3)


def test_word_vocabulary():
    vocabulary = WordVocabulary(words=["a", "the", "circle", "water"])
    input_ids, attention_mask = vocabulary(["a circle", "water"])
    assert input_ids.tolist() == [[1, 2, 4, 6], [1, 5, 6, 0]]  # start 1, end = highest id 6
    assert attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert len(vocabulary) == 7 and vocabulary.decode(input_ids) == ["a circle", "water"]
    with pytest.raises(ValueError, match=r"\['dog'\] not in the vocabulary"):
        vocabulary(["a dog"])


def test_the_published_configuration_converts_name_for_name():
    """``transformers``' ``CIDAS/clipseg-rd64-refined`` configuration (ViT-B/16, refined
    up-sampling), built on the meta device: its converted state dict has ``clipseg_rd64``'s names
    and shapes, and the same weights but CLIP's temperature ``logit_scale``."""
    config = transformers.CLIPSegConfig(use_complex_transposed_convolution=True,
                                        vision_config=dict(patch_size=16))
    with torch.device("meta"):
        reference = transformers.CLIPSegForImageSegmentation(config)
        model = get_model("clipseg_rd64")
    state = model.state_dict()
    converted = convert_transformers_state_dict(reference.state_dict())
    assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in state.items()}
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) - 1 == 150_747_745
