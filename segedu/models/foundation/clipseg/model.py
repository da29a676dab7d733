r"""CLIPSeg (Lüddecke & Ecker, "Image Segmentation Using Text and Image Prompts", CVPR 2022): a
mask for whatever a prompt names.

A prompt, a sentence ("a cat") or an example image, is embedded by CLIP (Radford et al. 2021) into
the space where CLIP matches images with their captions. The query image goes through CLIP's
image encoder, and a light decoder (:mod:`.decoder`) turns three of its intermediate layers,
modulated by the prompt's embedding (:mod:`.film`), into one mask logit per pixel::

    images (B, 3, H, W) --CLIPVisionEncoder, layers 3, 6, 9--> activations 3 x (B, 1 + N, D)
    input_ids (B, L)    --CLIPTextEncoder--------------------> condition (B, P)
      or conditional_images (B, 3, H', W') --CLIPVisionEncoder-> condition (B, P)
      or conditional_embeddings (B, P)
    activations, condition --CLIPSegDecoder--> logits (B, H, W)

Image ``b`` is segmented for prompt ``b``: the reference's convention (repeat the image for several
prompts); :meth:`CLIPSeg.logits_per_prompt` does that for ``K`` prompts at once, encoding each
image and each prompt once. The configuration is a dataclass (:class:`CLIPSegConfig`), as
nanoGPT's ``GPTConfig``.

Outputs equal ``transformers``' ``CLIPSegForImageSegmentation`` with the same weights
(:mod:`.convert`; ``tests/models/foundation/clipseg``): ``forward`` returns ``{"logits": (B, H, W),
"conditional_embeddings": (B, P)}``, its ``logits`` and ``conditional_embeddings``. CLIP is frozen
in the paper (:meth:`CLIPSeg.freeze_clip`); ``transformers`` runs it under ``torch.no_grad()``.
segedu leaves gradients on, so that the zoo's tiny CLIPSeg, which has no pretrained CLIP, can
train its encoders too.

Builders: ``clipseg_rd64`` (ViT-B/16 CLIP, ``reduce_dim=64``, the refined up-sampling: the
published ``CIDAS/clipseg-rd64-refined``) and ``clipseg_tiny`` (the zoo's, trained on the
synthetic scenes with a toy vocabulary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from ...registry import register_model
from .convert import convert_transformers_state_dict
from .decoder import CLIPSegDecoder
from .text_encoder import CLIPTextEncoder
from .vision_encoder import CLIPVisionEncoder

__all__ = ["CLIPSegConfig", "CLIPSeg", "clipseg_rd64", "clipseg_tiny", "OFFICIAL_URL"]

# the published refined rd64 weights (transformers' docstrings load "CIDAS/clipseg-rd64-refined")
OFFICIAL_URL = "https://huggingface.co/CIDAS/clipseg-rd64-refined/resolve/main/pytorch_model.bin"


@dataclass(frozen=True)
class CLIPSegConfig:
    """Every size of a CLIPSeg; the defaults are ``CIDAS/clipseg-rd64-refined``'s.

    Image encoder: ``img_size`` (CLIP's training size, fixes the positional embeddings),
    ``patch_size``, ``vision_width``, ``vision_depth``, ``vision_heads``, ``vision_mlp_dim``.
    Text encoder: ``vocab_size``, ``context_length``, ``text_width``, ``text_depth``,
    ``text_heads``, ``text_mlp_dim``, ``eos_token_id`` (``None``: the highest id ends the text).
    ``embed_dim``: the joint image-text space (CLIP's projections). Decoder: ``extract_layers``
    (0-based layers of the image encoder), ``reduce_dim``, ``decoder_heads``,
    ``decoder_mlp_dim``, ``refined`` (two-step up-sampling), ``conditional_layer`` (where FiLM
    applies).
    """

    img_size: int = 224
    patch_size: int = 16
    vision_width: int = 768
    vision_depth: int = 12
    vision_heads: int = 12
    vision_mlp_dim: int = 3072
    vocab_size: int = 49408
    context_length: int = 77
    text_width: int = 512
    text_depth: int = 12
    text_heads: int = 8
    text_mlp_dim: int = 2048
    eos_token_id: int | None = None
    embed_dim: int = 512
    extract_layers: tuple[int, ...] = (3, 6, 9)
    reduce_dim: int = 64
    decoder_heads: int = 4
    decoder_mlp_dim: int = 2048
    refined: bool = True
    conditional_layer: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "extract_layers", tuple(self.extract_layers))
        layers = self.extract_layers
        if not layers or list(layers) != sorted(set(layers)) or not (
                0 <= layers[0] and layers[-1] < self.vision_depth):
            raise ValueError(f"extract_layers must be increasing layers of the image encoder "
                             f"(0..{self.vision_depth - 1}), got {layers}")


class CLIPSeg(nn.Module):
    """CLIP's two encoders and CLIPSeg's decoder (see the module docstring).

    Args (keyword-only):
        config: a :class:`CLIPSegConfig`.
    """

    def __init__(self, *, config: CLIPSegConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.vision = CLIPVisionEncoder(
            img_size=c.img_size, patch_size=c.patch_size, width=c.vision_width,
            depth=c.vision_depth, num_heads=c.vision_heads, mlp_dim=c.vision_mlp_dim,
            embed_dim=c.embed_dim)
        self.text = CLIPTextEncoder(
            vocab_size=c.vocab_size, context_length=c.context_length, width=c.text_width,
            depth=c.text_depth, num_heads=c.text_heads, mlp_dim=c.text_mlp_dim,
            embed_dim=c.embed_dim, eos_token_id=c.eos_token_id)
        self.decoder = CLIPSegDecoder(
            width=c.vision_width, condition_dim=c.embed_dim, num_layers=len(c.extract_layers),
            reduce_dim=c.reduce_dim, num_heads=c.decoder_heads, mlp_dim=c.decoder_mlp_dim,
            patch_size=c.patch_size, refined=c.refined, conditional_layer=c.conditional_layer)

    def freeze_clip(self) -> CLIPSeg:
        """Freeze both CLIP encoders (the paper trains the decoder only); returns the model."""
        self.vision.requires_grad_(False)
        self.text.requires_grad_(False)
        return self

    def condition(self, *, input_ids: torch.Tensor | None = None,
                  attention_mask: torch.Tensor | None = None,
                  conditional_images: torch.Tensor | None = None,
                  conditional_embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """The prompts' embeddings ``(K, P)``: from token ids ``(K, L)`` (text prompts), from
        images ``(K, 3, H, W)`` (visual prompts: CLIP's image embedding of the example), or given.
        Exactly one kind of prompt."""
        given = [name for name, value in (("input_ids", input_ids),
                                          ("conditional_images", conditional_images),
                                          ("conditional_embeddings", conditional_embeddings))
                 if value is not None]
        if len(given) != 1:
            raise ValueError("give exactly one prompt: input_ids (text), conditional_images "
                             f"(an example image) or conditional_embeddings; got {given or 'none'}")
        if input_ids is not None:
            return self.text(input_ids, attention_mask)
        if conditional_images is not None:
            return self.vision(conditional_images)
        if conditional_embeddings.ndim != 2 or conditional_embeddings.shape[1] != (
                self.config.embed_dim):
            raise ValueError(f"conditional_embeddings must be (K, {self.config.embed_dim}), got "
                             f"{tuple(conditional_embeddings.shape)}")
        return conditional_embeddings

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, *,
                conditional_images: torch.Tensor | None = None,
                conditional_embeddings: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Images ``(B, 3, H, W)`` and one prompt per image -> ``{"logits": (B, H, W),
        "conditional_embeddings": (B, P)}`` (prompts as :meth:`condition`)."""
        # 1. the query images through CLIP's image encoder, up to the deepest extracted layer
        grid = self.vision.patch_grid(images)
        activations = self.vision.layer_outputs(images, self.config.extract_layers)
        # 2. the prompts' embeddings, one per image
        condition = self.condition(input_ids=input_ids, attention_mask=attention_mask,
                                   conditional_images=conditional_images,
                                   conditional_embeddings=conditional_embeddings)
        if condition.shape[0] != images.shape[0]:
            raise ValueError(f"give one prompt per image: {images.shape[0]} images, "
                             f"{condition.shape[0]} prompts (logits_per_prompt pairs every "
                             "image with every prompt)")
        # 3. the decoder: activations modulated by the prompt -> mask logits
        logits = self.decoder(activations, condition, grid)
        return {"logits": logits, "conditional_embeddings": condition}

    def logits_per_prompt(self, images: torch.Tensor, input_ids: torch.Tensor | None = None,
                          attention_mask: torch.Tensor | None = None, *,
                          conditional_images: torch.Tensor | None = None,
                          conditional_embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """Every image with every prompt: images ``(B, 3, H, W)``, ``K`` prompts -> logits
        ``(B, K, H, W)``. Each image and each prompt is encoded once; the decoder runs ``B K``
        times."""
        grid = self.vision.patch_grid(images)
        activations = self.vision.layer_outputs(images, self.config.extract_layers)
        condition = self.condition(input_ids=input_ids, attention_mask=attention_mask,
                                   conditional_images=conditional_images,
                                   conditional_embeddings=conditional_embeddings)
        b, k = images.shape[0], condition.shape[0]
        # pair every image (its activations repeated K times) with every prompt (tiled B times)
        pairs = [a.repeat_interleave(k, dim=0) for a in activations]
        logits = self.decoder(pairs, condition.repeat(b, 1), grid)
        return logits.reshape(b, k, *logits.shape[-2:])


def _build(base: CLIPSegConfig, overrides: dict) -> CLIPSeg:
    unknown = sorted(set(overrides) - set(asdict(base)))
    if unknown:
        raise TypeError(f"unknown CLIPSeg settings {unknown}; the settings are "
                        f"{sorted(asdict(base))}")
    return CLIPSeg(config=replace(base, **overrides))


@register_model("clipseg_rd64", official=lambda: OFFICIAL_URL,
                convert=convert_transformers_state_dict)
def clipseg_rd64(**overrides) -> CLIPSeg:
    """CLIPSeg with CLIP ViT-B/16 and a 64-wide refined decoder (``CIDAS/clipseg-rd64-refined``),
    150,747,745 weights: ``transformers``' 150,747,746 less CLIP's ``logit_scale``; images of
    352 x 352
    (a 22 x 22 patch grid) as its processor makes them, normalised with CLIP's mean and std."""
    return _build(CLIPSegConfig(), overrides)


# the zoo's: 128 x 128 scenes, 16-pixel patches (8 x 8 tokens) and rd64's refined decoder, as
# the published model; a toy word vocabulary of at most 16 ids
TINY = CLIPSegConfig(img_size=128, patch_size=16, vision_width=128, vision_depth=4,
                     vision_heads=4, vision_mlp_dim=256, vocab_size=16, context_length=8,
                     text_width=64, text_depth=2, text_heads=4, text_mlp_dim=128, embed_dim=64,
                     extract_layers=(1, 2, 3), reduce_dim=64, decoder_heads=4,
                     decoder_mlp_dim=128, refined=True)


@register_model("clipseg_tiny")
def clipseg_tiny(**overrides) -> CLIPSeg:
    """A small CLIPSeg for 128 x 128 synthetic scenes and a toy vocabulary of at most 16 words
    (:mod:`segedu.zoo.clipseg`); any :class:`CLIPSegConfig` field can be overridden."""
    return _build(TINY, overrides)
