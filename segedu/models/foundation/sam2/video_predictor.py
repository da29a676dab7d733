"""Segment and track objects through a video with SAM 2: prompt any frame, propagate.

::

    predictor = Sam2VideoPredictor(model)
    state = predictor.init_state(video)                     # (T, 3, H, W) floats in [0, 1]
    out = predictor.add_points(state, frame_idx=0, obj_ids=[1, 2],
                               points=[[[x1, y1]], [[x2, y2]]], labels=[[1], [1]])
    for out in predictor.propagate(state):                  # frame by frame, forward
        out.frame_idx, out.obj_ids, out.mask_logits          # (num_objects, 1, S/4, S/4)

Every object is tracked on its own (its own :class:`~.memory_bank.ObjectMemory`); a frame's
image features are computed once and shared. On each frame, for each object:

- a frame it was prompted on before being tracked is a *conditioning* frame: no memory is read
  (``no_mem_embed``), and it is kept in the bank for the whole video;
- any other frame reads the bank through the memory attention (with the new clicks, if the user
  corrects a tracked frame);
- the mask and the frame's features then become a new spatial memory.

- a tracked frame the user corrected with clicks keeps its corrected result when a later
  propagation passes it again.

The order of operations is that of ``transformers``' ``Sam2VideoModel.forward`` and
``propagate_in_video_iterator`` (tested frame by frame, :mod:`.convert`), with two differences,
where segedu does what facebookresearch/sam2's ``SAM2VideoPredictor`` does:

- ``transformers`` (5.24) recomputes a corrected tracked frame *without* its clicks when a
  propagation starts at or passes it, which drops the correction; segedu reuses the corrected
  output (the original keeps it among its "consolidated" frames). The two agree when propagation
  resumes after the corrected frame (tested).
- ``transformers`` binarizes the masks of *all* objects of a frame for the memory when *any* of
  them was prompted there; segedu binarizes only the prompted objects' masks.

Unlike the original, a correction does not feed the previous mask logits to the decoder (neither
does ``transformers``), and no non-overlap constraint is applied between objects. Mask prompts
are not supported (points and boxes are).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .memory_bank import ObjectMemory, gather_memory
from .outputs import FrameFeatures, FrameOutput
from .prompt_encoder import box_to_points
from .sam2 import Sam2

__all__ = ["Sam2VideoPredictor", "VideoState", "VideoFrameOutput"]


@dataclass
class VideoState:
    """A video being segmented: the model-ready ``frames`` ``(T, 3, S, S)``, the original
    ``video_size`` ``(H, W)``, the objects' banks (by object id, in the order they were added),
    the objects with prompts not yet used, and a cache of frame features."""

    frames: torch.Tensor
    video_size: tuple[int, int]
    objects: dict[int, ObjectMemory] = field(default_factory=dict)
    new_inputs: list[int] = field(default_factory=list)
    features: dict[int, FrameFeatures] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]


@dataclass
class VideoFrameOutput:
    """The result on one frame: ``obj_ids``, low-resolution ``mask_logits`` ``(num_objects, 1,
    S/4, S/4)`` and ``object_scores`` ``(num_objects,)`` (logits)."""

    frame_idx: int
    obj_ids: list[int]
    mask_logits: torch.Tensor
    object_scores: torch.Tensor


class Sam2VideoPredictor:
    """Prompt and propagate objects through a video with a :class:`~.sam2.Sam2` (module
    docstring). The model is used in eval mode, without gradients."""

    def __init__(self, model: Sam2) -> None:
        self.model = model.eval()

    def init_state(self, video: torch.Tensor) -> VideoState:
        """``video (T, 3, H, W)`` floats in [0, 1] -> a fresh :class:`VideoState` (frames resized
        to the model's input size and normalised)."""
        if video.ndim != 4 or video.shape[1] != 3:
            raise ValueError(f"video must be (T, 3, H, W), got shape {tuple(video.shape)}")
        m = self.model
        frames = video.float().to(m.pixel_mean.device)
        size = m.image_size
        if frames.shape[-2:] != (size, size):
            frames = F.interpolate(frames, size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True)
        frames = (frames - m.pixel_mean) / m.pixel_std
        return VideoState(frames=frames, video_size=tuple(video.shape[-2:]))

    def _check_frame(self, state: VideoState, frame_idx: int) -> None:
        if not 0 <= frame_idx < state.num_frames:
            raise IndexError(f"frame_idx {frame_idx} is out of range for a video of "
                             f"{state.num_frames} frames")

    @torch.no_grad()
    def add_points(self, state: VideoState, *, frame_idx: int, obj_ids: Sequence[int],
                   points: Sequence | torch.Tensor | None = None,
                   labels: Sequence | torch.Tensor | None = None,
                   boxes: Sequence | torch.Tensor | None = None) -> VideoFrameOutput:
        """Prompt objects on one frame and segment that frame.

        Args:
            frame_idx: the frame (any frame: the first, or a tracked one to correct it).
            obj_ids: one id per object (new or known).
            points: per object, clicks ``(N, 2)`` in pixels ``(x, y)`` of the *video*.
            labels: per object, ``(N,)`` (1 foreground, 0 background).
            boxes: per object, one box ``(4,)`` ``xyxy`` in video pixels.
        The prompts replace the object's earlier prompts on this frame.
        """
        self._check_frame(state, frame_idx)
        obj_ids = list(obj_ids)
        if points is None and boxes is None:
            raise ValueError("give points (with labels) or boxes")
        if (points is None) != (labels is None):
            raise ValueError("points and labels go together")
        h, w = state.video_size
        scale = torch.tensor([self.model.image_size / w, self.model.image_size / h])
        device = state.frames.device
        for i, obj_id in enumerate(obj_ids):
            coords = torch.zeros(1, 0, 2)
            lab = torch.zeros(1, 0, dtype=torch.int32)
            if points is not None:
                coords = torch.as_tensor(points[i], dtype=torch.float32).reshape(1, -1, 2) * scale
                lab = torch.as_tensor(labels[i], dtype=torch.int32).reshape(1, -1)
                if lab.shape[1] != coords.shape[1]:
                    raise ValueError(f"object {obj_id}: {coords.shape[1]} points but "
                                     f"{lab.shape[1]} labels")
            if boxes is not None:
                box = torch.as_tensor(boxes[i], dtype=torch.float32).reshape(1, 4) * scale.repeat(2)
                corners, corner_labels = box_to_points(box)
                coords = torch.cat([corners, coords], 1)
                lab = torch.cat([corner_labels.to(torch.int32), lab], 1)
            bank = state.objects.setdefault(obj_id, ObjectMemory())
            bank.points[frame_idx] = (coords.to(device), lab.to(device))
        state.new_inputs = obj_ids
        return self.step(state, frame_idx)

    def _features(self, state: VideoState, frame_idx: int) -> FrameFeatures:
        if frame_idx not in state.features:
            state.features[frame_idx] = self.model.encode_image(state.frames[frame_idx][None])
        return state.features[frame_idx]

    def _track(self, state: VideoState, bank: ObjectMemory, frame_idx: int, is_cond: bool,
               points: tuple[torch.Tensor, torch.Tensor] | None, reverse: bool) -> FrameOutput:
        """One object on one frame: memory-conditioned embedding, then the SAM head."""
        m = self.model
        features = self._features(state, frame_idx)
        if is_cond:
            memory = memory_pos = None
            num_ptr = 0
        else:
            memory, memory_pos, num_ptr = gather_memory(m, bank, frame_idx, state.num_frames,
                                                        reverse)
        pix_feat = m.condition_on_memory(features, memory, memory_pos, num_ptr)
        coords, labels = points if points is not None else (None, None)
        num_points = 0 if labels is None else labels.shape[1]
        return m.sam_head(features, pix_feat, coords, labels, m.use_multimask(num_points))

    @torch.no_grad()
    def step(self, state: VideoState, frame_idx: int, reverse: bool = False) -> VideoFrameOutput:
        """Segment every object on one frame and store the new memories."""
        self._check_frame(state, frame_idx)
        if not state.objects:
            raise ValueError("no objects to track; add points first")
        masks, scores = [], []
        for obj_id, bank in state.objects.items():
            prompted = obj_id in state.new_inputs
            if not prompted and frame_idx in bank.cond:
                # a conditioning frame seen before: reuse its result
                out = bank.cond[frame_idx]
                is_cond = True
            elif not prompted and frame_idx in bank.corrected:
                # a tracked frame the user corrected: keep the correction
                out = bank.non_cond[frame_idx]
                is_cond = False
            else:
                points = None
                is_cond = False
                if prompted:
                    # prompted before it was tracked: a conditioning frame
                    is_cond = frame_idx not in bank.tracked
                    points = bank.points.get(frame_idx)
                    if points is not None:
                        state.new_inputs.remove(obj_id)
                out = self._track(state, bank, frame_idx, is_cond, points, reverse)
                (bank.cond if is_cond else bank.non_cond)[frame_idx] = out
                if points is not None and not is_cond:
                    bank.corrected.add(frame_idx)
                else:
                    bank.corrected.discard(frame_idx)
                # the new memory: binarized mask where the user prompted
                out.maskmem_features, out.maskmem_pos = self.model.encode_memory(
                    self._features(state, frame_idx), out.high_res_masks, out.object_score,
                    binarize=points is not None)
            if not is_cond:
                bank.tracked.add(frame_idx)
            masks.append(out.pred_masks)
            scores.append(out.object_score.reshape(-1))
        return VideoFrameOutput(frame_idx=frame_idx, obj_ids=list(state.objects),
                                mask_logits=torch.cat(masks), object_scores=torch.cat(scores))

    def propagate(self, state: VideoState, start_frame_idx: int | None = None
                  ) -> Iterator[VideoFrameOutput]:
        """Segment the frames from ``start_frame_idx`` (default: the first prompted frame) to
        the end, one :class:`VideoFrameOutput` per frame."""
        if start_frame_idx is None:
            prompted = [t for bank in state.objects.values() for t in bank.cond]
            if not prompted:
                raise ValueError("no prompted frame to start from; add points first")
            start_frame_idx = min(prompted)
        self._check_frame(state, start_frame_idx)
        for frame_idx in range(start_frame_idx, state.num_frames):
            yield self.step(state, frame_idx)

    def upscale(self, state: VideoState, out: VideoFrameOutput) -> torch.Tensor:
        """The frame's mask logits at the video's size: ``(num_objects, H, W)``."""
        return F.interpolate(out.mask_logits, size=state.video_size, mode="bilinear",
                             align_corners=False)[:, 0]
