"""CLIPSeg (Lüddecke & Ecker, "Image Segmentation Using Text and Image Prompts", CVPR 2022): a
mask for the class that a text prompt (or an example image) names.

One concept per module:

- :mod:`.clip_layer`: CLIP's pre-norm transformer layer (QuickGELU, LayerNorm ``1e-5``);
- :mod:`.text_encoder`: CLIP's text encoder (causal mask, end-of-text pooling, projection);
- :mod:`.vision_encoder`: CLIP's image encoder (a ViT whose intermediate layers are read);
- :mod:`.film`: FiLM, the prompt's scale and shift of every channel;
- :mod:`.decoder`: CLIPSeg's decoder (reductions, FiLM, transformer layers, up-sampling);
- :mod:`.model`: :class:`CLIPSeg` and its builders ``clipseg_rd64`` (official weights) and
  ``clipseg_tiny`` (segedu's zoo);
- :mod:`.convert`: ``transformers``' ``CLIPSegForImageSegmentation`` weights -> :class:`CLIPSeg`;
- :mod:`.vocabulary`: a toy word-level vocabulary (the zoo's tiny model; not CLIP's tokenizer);
- :mod:`.tokenizer`: CLIP's tokenizer, through ``transformers``, for the official weights.
"""

from .clip_layer import CLIPLayer
from .convert import convert_transformers_state_dict
from .decoder import CLIPSegDecoder, CLIPSegDecoderLayer
from .film import FiLM
from .model import OFFICIAL_URL, CLIPSeg, CLIPSegConfig, clipseg_rd64, clipseg_tiny
from .text_encoder import CLIPTextEncoder, causal_mask
from .tokenizer import clip_tokenize
from .vision_encoder import CLIPVisionEncoder
from .vocabulary import WordVocabulary

__all__ = ["CLIPLayer", "CLIPTextEncoder", "causal_mask", "CLIPVisionEncoder",
           "FiLM", "CLIPSegDecoder", "CLIPSegDecoderLayer", "CLIPSeg", "CLIPSegConfig",
           "clipseg_rd64", "clipseg_tiny", "OFFICIAL_URL", "convert_transformers_state_dict",
           "WordVocabulary", "clip_tokenize"]
