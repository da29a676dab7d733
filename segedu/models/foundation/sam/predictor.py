"""Interactive segmentation with SAM: embed an image once, then answer prompts cheaply.

:class:`SamPredictor` has segment-anything's ``SamPredictor`` interface and results (tested)::

    predictor = SamPredictor(sam)
    predictor.set_image(image)                       # uint8 (H, W, 3): runs the image encoder
    masks, scores, logits = predictor.predict(point_coords=np.array([[x, y]]),
                                              point_labels=np.array([1]))
    masks, scores, logits = predictor.predict(box=np.array([x0, y0, x1, y1]),
                                              mask_input=logits[None, best])

``set_image`` resizes the long side to the model's input size
(:class:`~.transforms.ResizeLongestSide`), normalises, pads and encodes; ``predict`` moves the
prompts into the resized frame, runs the prompt encoder and the mask decoder (milliseconds) and maps
the masks back to the original size. ``predict_torch`` is the batched variant (prompts already in
the resized frame, torch tensors).

Where segment-anything uses ``assert``, this class raises ``ValueError`` / ``TypeError`` naming
the problem (wrong image shape or dtype, points without labels, mismatched lengths), and
``RuntimeError`` when predicting before ``set_image``, as segment-anything.
"""

from __future__ import annotations

import numpy as np
import torch

from .sam import Sam
from .transforms import ResizeLongestSide

__all__ = ["SamPredictor", "predictor_image"]


def predictor_image(image: torch.Tensor | np.ndarray, *, name: str | None = None) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 array that :meth:`SamPredictor.set_image` takes, from a float
    ``(3, H, W)`` tensor in [0, 1] (rounded to 8 bits) or from such an array itself.

    A tensor or array of another shape or dtype raises ``ValueError``; ``name`` (for example
    ``"images[2]"``) starts the message.
    """
    where = f"{name}: " if name else ""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(f"{where}a tensor image must be float (3, H, W) in [0, 1], got "
                             f"{image.dtype} {tuple(image.shape)}")
        return (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{where}an array image must be uint8 (H, W, 3), got {image.dtype} "
                         f"{image.shape}")
    return image


class SamPredictor:
    """Embed one image with ``sam_model``'s encoder, then predict masks for prompts on it."""

    def __init__(self, sam_model: Sam) -> None:
        self.model = sam_model
        self.transform = ResizeLongestSide(sam_model.image_encoder.img_size)
        self.reset_image()

    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_image(self) -> None:
        """Forget the current image and its embedding."""
        self.is_image_set = False
        self.features: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Encode ``image``, a ``uint8`` array ``(H, W, 3)`` in ``image_format``
        ("RGB" or "BGR")."""
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        if not isinstance(image, np.ndarray):
            raise TypeError(f"image must be a NumPy array (H, W, 3), got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise TypeError(f"image must have dtype uint8 (values 0..255), got {image.dtype}")
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
            raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
        # channel order the model expects
        if image_format != self.model.image_format:
            image = image[..., ::-1]
        # resize the long side to the model's input size, to a (1, 3, h, w) float tensor
        resized = self.transform.apply_image(np.ascontiguousarray(image))
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        self.set_torch_image(tensor, image.shape[:2])

    @torch.no_grad()
    def set_torch_image(
        self, transformed_image: torch.Tensor, original_image_size: tuple[int, ...]
    ) -> None:
        """Encode an image already resized by :class:`~.transforms.ResizeLongestSide`:
        ``(1, 3, h, w)`` with ``max(h, w) == img_size``; ``original_image_size = (H, W)``."""
        img_size = self.model.image_encoder.img_size
        if (
            transformed_image.ndim != 4
            or transformed_image.shape[1] != 3
            or max(transformed_image.shape[2:]) != img_size
        ):
            raise ValueError(
                f"set_torch_image expects (B, 3, h, w) with long side {img_size}, got "
                f"{tuple(transformed_image.shape)}"
            )
        self.reset_image()
        self.original_size = tuple(int(s) for s in original_image_size)
        self.input_size = tuple(int(s) for s in transformed_image.shape[-2:])
        # normalise, pad, encode once
        self.features = self.model.image_encoder(self.model.preprocess(transformed_image))
        self.is_image_set = True

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for one set of prompts, in the original image's pixels.

        Args:
            point_coords: ``(N, 2)`` points ``(x, y)``; needs ``point_labels (N,)``: 1 foreground,
                0 background.
            box: ``(4,)`` ``xyxy``.
            mask_input: ``(1, 256, 256)`` logits, typically ``low_res_logits`` of an earlier call.
            multimask_output: three masks (for an ambiguous prompt such as one click) or one.
            return_logits: return mask logits instead of booleans.

        Returns:
            masks ``(M, H, W)`` (bool, or float logits), IoU predictions ``(M,)`` and low-resolution
            logits ``(M, 256, 256)``, NumPy arrays; ``M`` = 3 or 1.
        """
        self._require_image()
        coords_torch = labels_torch = box_torch = mask_torch = None
        # points: to the resized frame, add a batch axis
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be supplied if point_coords is supplied")
            point_coords = np.asarray(point_coords)
            point_labels = np.asarray(point_labels)
            if point_coords.ndim != 2 or point_coords.shape[1] != 2:
                raise ValueError(f"point_coords must have shape (N, 2), got {point_coords.shape}")
            if point_labels.shape != point_coords.shape[:1]:
                raise ValueError(
                    f"point_labels must have shape (N,) = ({len(point_coords)},), got "
                    f"{point_labels.shape}"
                )
            coords = self.transform.apply_coords(point_coords, self.original_size)
            coords_torch = torch.as_tensor(coords, dtype=torch.float, device=self.device)[None]
            labels_torch = torch.as_tensor(point_labels, dtype=torch.int, device=self.device)[None]
        elif point_labels is not None:
            raise ValueError("point_labels given without point_coords")
        # box: to the resized frame
        if box is not None:
            box = np.asarray(box)
            if box.size != 4:
                raise ValueError(f"box must have 4 numbers (x0, y0, x1, y1), got shape {box.shape}")
            box_torch = torch.as_tensor(
                self.transform.apply_boxes(box, self.original_size),
                dtype=torch.float,
                device=self.device,
            )
        # mask: (1, 256, 256) -> (1, 1, 256, 256)
        if mask_input is not None:
            mask_input = np.asarray(mask_input)
            expected = self.model.prompt_encoder.mask_input_size
            if mask_input.shape != (1, *expected):
                raise ValueError(
                    f"mask_input must have shape (1, {expected[0]}, {expected[1]}), got "
                    f"{mask_input.shape}"
                )
            mask_torch = torch.as_tensor(mask_input, dtype=torch.float, device=self.device)[None]
        masks, iou_predictions, low_res = self.predict_torch(
            coords_torch,
            labels_torch,
            box_torch,
            mask_torch,
            multimask_output,
            return_logits=return_logits,
        )
        # drop the batch axis, to NumPy
        return masks[0].cpu().numpy(), iou_predictions[0].cpu().numpy(), low_res[0].cpu().numpy()

    @torch.no_grad()
    def predict_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched prediction, prompts already in the resized frame.

        Args:
            point_coords: ``(B, N, 2)`` with ``point_labels (B, N)``, or ``None``.
            boxes: ``(B, 4)`` ``xyxy`` or ``None``.
            mask_input: ``(B, 1, 256, 256)`` logits or ``None``.

        Returns:
            masks ``(B, M, H, W)``, IoU predictions ``(B, M)``, low-resolution logits
            ``(B, M, 256, 256)``.
        """
        self._require_image()
        if point_coords is not None and point_labels is None:
            raise ValueError("point_labels must be supplied if point_coords is supplied")
        points = (point_coords, point_labels) if point_coords is not None else None
        # embed the prompts
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        # decode against the stored image embedding
        low_res_masks, iou_predictions = self.model.mask_decoder(
            image_embeddings=self.features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
        # back to the original image size
        masks = self.model.postprocess_masks(low_res_masks, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou_predictions, low_res_masks

    def get_image_embedding(self) -> torch.Tensor:
        """The current image's embedding ``(1, C, h, w)`` (256 x 64 x 64 for SAM)."""
        self._require_image()
        return self.features
