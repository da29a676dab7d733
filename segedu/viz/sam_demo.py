"""Click on an image, and SAM answers with its three masks and their scores (a Jupyter widget).

SAM's point prompt is ambiguous: a click on a shirt may mean the shirt, the person or the pocket.
So the decoder returns three masks (roughly whole, part, sub-part) with its own estimate of each
mask's IoU; the demo shows all three side by side, the best-scored one framed::

    from segedu.viz.sam_demo import SamClickDemo
    demo = SamClickDemo(SamPredictor(get_model("sam_vit_b", weights="official")), image)
    demo.widget          # display it; click to add a foreground point, shift-click a background one

How it works: the image is embedded once (``predictor.set_image``); each click adds a point and
calls ``predictor.predict(point_coords, point_labels, multimask_output=True)``, which runs only the
light prompt encoder and mask decoder, so the answer comes at once even on a CPU. Clicks arrive
through ``ipyevents`` (the image widget reports the clicked pixel in the image's own coordinates).
:meth:`SamClickDemo.click` does the same from code, which is how the tests drive it. On Colab,
call ``google.colab.output.enable_custom_widget_manager()`` once before displaying the widget.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ..models.foundation.sam.predictor import predictor_image

__all__ = ["SamClickDemo", "render_mask"]

MASK_COLOR = np.array([30, 144, 255], dtype=np.float64)  # the mask's tint (RGB)
PLACEHOLDER_GREY = 235  # the empty answer slots before the first click: a light grey image
ANSWER_WIDTH = 256  # the largest width (px) at which each of the three answers is drawn
POINT_COLORS = {1: (0, 220, 0), 0: (230, 0, 0)}  # foreground green, background red


def render_mask(image: np.ndarray, mask: np.ndarray | None, points: np.ndarray,
                labels: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """The image ``(H, W, 3)`` uint8 with ``mask`` ``(H, W)`` tinted and the clicked points drawn
    as small squares (green foreground, red background)."""
    out = image.astype(np.float64)
    if mask is not None:
        out[mask] = (1 - alpha) * out[mask] + alpha * MASK_COLOR
    height, width = image.shape[:2]
    r = max(1, min(height, width) // 64)  # the marker's half-size
    for (x, y), label in zip(points.astype(int), labels.astype(int), strict=True):
        out[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = POINT_COLORS[int(label)]
    return out.round().astype(np.uint8)


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def answer_width(image_width: int) -> int:
    """The width in pixels at which every answer is drawn: the image's own, at most ANSWER_WIDTH.

    All three answers get this same width (and their captions too), so that a longer caption (the
    best mask's, in bold) cannot make one of them narrower than the others.
    """
    return min(int(image_width), ANSWER_WIDTH)


class SamClickDemo:
    """The widget: the image to click on, and below it SAM's three masks with their scores.

    Before the first click (and after a reset) the three answer slots show a blank grey image of
    the image's size, not an empty (broken) image; the three answers are drawn at one width.

    Args:
        predictor: a :class:`~segedu.models.foundation.sam.SamPredictor` (its model in eval mode).
        image: uint8 ``(H, W, 3)`` or float ``(3, H, W)`` in [0, 1].
        alpha: the masks' opacity.
    """

    def __init__(self, predictor: Any, image: Any, *, alpha: float = 0.5) -> None:
        import ipywidgets as widgets
        from ipyevents import Event

        self.predictor, self.alpha = predictor, alpha
        self.image = predictor_image(image)
        self.points = np.zeros((0, 2), dtype=np.float64)
        self.labels = np.zeros((0,), dtype=np.int64)
        self.masks: np.ndarray | None = None
        self.scores: np.ndarray | None = None
        # 1. embed once: the heavy image encoder runs here only
        self.predictor.set_image(self.image)
        # 2. the widgets: the clickable image, three answers, a reset button
        self.view = widgets.Image(value=_png(self.image), format="png")
        width = f"{answer_width(self.image.shape[1])}px"
        self.placeholder = _png(np.full_like(self.image, PLACEHOLDER_GREY))
        self.answers = [widgets.Image(value=self.placeholder, format="png",
                                      layout=widgets.Layout(width=width, height="auto"))
                        for _ in range(3)]
        self.captions = [widgets.HTML(layout=widgets.Layout(width=width)) for _ in range(3)]
        reset = widgets.Button(description="reset points")
        reset.on_click(lambda _: self.reset())
        help_text = widgets.HTML("click: a foreground point; shift-click: a background point")
        answers = widgets.HBox([widgets.VBox([a, c],
                                             layout=widgets.Layout(width=width, flex="0 0 auto"))
                                for a, c in zip(self.answers, self.captions, strict=True)])
        self.widget = widgets.VBox([help_text, self.view, reset, answers])
        # 3. clicks on the image, in the image's own pixel coordinates
        self._events = Event(source=self.view, watched_events=["click"])
        self._events.on_dom_event(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.click(event["dataX"], event["dataY"], foreground=not event.get("shiftKey", False))

    def click(self, x: float, y: float, *,
              foreground: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Add a point at pixel ``(x, y)`` and ask SAM again; return its masks ``(3, H, W)`` bool
        and scores ``(3,)`` (also shown in the widget)."""
        height, width = self.image.shape[:2]
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"the point ({x}, {y}) lies outside the {width} x {height} image")
        self.points = np.concatenate([self.points, [[float(x), float(y)]]])
        self.labels = np.concatenate([self.labels, [1 if foreground else 0]])
        # the prompt: every point so far; three masks, as for any ambiguous prompt
        self.masks, self.scores, _ = self.predictor.predict(point_coords=self.points,
                                                            point_labels=self.labels,
                                                             multimask_output=True)
        self._show()
        return self.masks, self.scores

    def reset(self) -> None:
        """Forget the points and the answers."""
        self.points, self.labels = self.points[:0], self.labels[:0]
        self.masks = self.scores = None
        self._show()

    def _show(self) -> None:
        self.view.value = _png(render_mask(self.image, None, self.points, self.labels))
        if self.masks is None:
            for answer, caption in zip(self.answers, self.captions, strict=True):
                answer.value, caption.value = self.placeholder, ""
            return
        best = int(np.argmax(self.scores))
        for k, (answer, caption) in enumerate(zip(self.answers, self.captions, strict=True)):
            answer.value = _png(render_mask(self.image, self.masks[k], self.points, self.labels,
                                            alpha=self.alpha))
            text = f"mask {k + 1}: predicted IoU {float(self.scores[k]):.3f}"
            caption.value = f"<b>{text} (best)</b>" if k == best else text
