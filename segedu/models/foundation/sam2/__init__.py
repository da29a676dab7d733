"""SAM 2 (Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024): SAM with a memory,
for promptable segmentation and tracking in video.

One concept per module, following facebookresearch/sam2's ``modeling/`` (its parameter names),
proven equal to ``transformers``' ``Sam2Model`` and ``Sam2VideoModel``:

- :mod:`.hiera`: the hierarchical ViT trunk (windowed attention, query pooling);
- :mod:`.neck`, :mod:`.image_encoder`: the feature pyramid and the image encoder;
- :mod:`.prompt_encoder`, :mod:`.mask_decoder`: SAM's prompt encoder and mask decoder with SAM 2's
  changes (boxes as corner points; object score, high-resolution skips, dynamic multimask);
- :mod:`.rope`, :mod:`.memory_attention`: 2-D rotary positions; attention to the memories;
- :mod:`.memory_encoder`: frame + mask -> spatial memory;
- :mod:`.outputs`: a frame's features and an object's prediction and memory;
- :mod:`.memory_bank`: which memories and object pointers a frame attends to;
- :mod:`.sam2`: the model (:class:`Sam2`), one frame of one object, and single images;
- :mod:`.video_predictor`: prompting on any frame and propagation through a video;
- :mod:`.convert`: ``transformers``' state dict -> segedu's names;
- :mod:`.build`: the builders ``sam2_hiera_tiny`` (official) and ``sam2_slim``.
"""

from .build import OFFICIAL_URLS, Sam2Config, build_sam2, sam2_hiera_tiny, sam2_slim
from .convert import convert_transformers_state_dict
from .hiera import Hiera, MultiScaleAttention, MultiScaleBlock
from .image_encoder import ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .memory_attention import MemoryAttention, MemoryAttentionLayer, RoPEAttention
from .memory_bank import ObjectMemory, gather_memory, sine_code_1d
from .memory_encoder import Fuser, MaskDownSampler, MemoryEncoder
from .neck import FpnNeck
from .outputs import FrameFeatures, FrameOutput
from .prompt_encoder import Sam2PromptEncoder, box_to_points
from .rope import apply_rope, axial_rope
from .sam2 import NO_OBJ_SCORE, PIXEL_MEAN, PIXEL_STD, Sam2
from .video_predictor import Sam2VideoPredictor, VideoFrameOutput, VideoState

__all__ = [
    "Sam2", "Sam2Config", "build_sam2", "sam2_hiera_tiny", "sam2_slim", "OFFICIAL_URLS",
    "convert_transformers_state_dict", "Hiera", "MultiScaleAttention", "MultiScaleBlock",
    "ImageEncoder", "FpnNeck", "Sam2PromptEncoder", "box_to_points", "Sam2MaskDecoder",
    "MemoryAttention", "MemoryAttentionLayer", "RoPEAttention", "apply_rope", "axial_rope",
    "MemoryEncoder", "MaskDownSampler", "Fuser", "ObjectMemory", "gather_memory",
    "sine_code_1d", "FrameFeatures", "FrameOutput", "NO_OBJ_SCORE", "PIXEL_MEAN", "PIXEL_STD",
    "Sam2VideoPredictor", "VideoState", "VideoFrameOutput",
]
