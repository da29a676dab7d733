"""segedu.viz.show_clip: a clip frame by frame, each object in one colour in every frame and row."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from segedu.viz import instance_colors, show_clip  # noqa: E402

T, H, W = 4, 12, 16


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def clip():
    """A grey clip with object 1 moving right and object 2 appearing in frame 2."""
    video = torch.full((T, 3, H, W), 0.5)
    ids = torch.zeros((T, H, W), dtype=torch.int64)
    for t in range(T):
        ids[t, 2:6, 2 + 2 * t : 6 + 2 * t] = 1
    ids[2:, 8:11, 10:14] = 2
    return video, ids


def _panel(fig, row, col, ncols):
    return np.asarray(fig.axes[row * ncols + col].images[0].get_array())


def test_rows_of_masks_and_columns_of_frames_with_one_colour_per_object(clip):
    video, ids = clip
    pred = ids.clone()
    pred[3][pred[3] == 1] = 0  # the prediction lost object 1 in the last frame
    fig = show_clip(video, {"ground truth": ids, "tracker": pred}, alpha=0.5,
                    captions={"tracker": ["a", "b", "c", "d"]})
    assert len(fig.axes) == 2 * T
    assert [fig.axes[c].get_title() for c in range(T)] == [f"frame {t}" for t in range(T)]
    assert fig.axes[0].get_ylabel() == "ground truth" and fig.axes[T].get_ylabel() == "tracker"
    assert fig.axes[T + 3].get_xlabel() == "d"
    colors = instance_colors(2)
    for row, maps in enumerate((ids, pred)):
        for t in range(T):
            panel = _panel(fig, row, t, T)
            for k in (1, 2):
                inside = maps[t].numpy() == k
                # a pixel inside, away from the object's edge: the blend with the object's colour
                core = inside & np.roll(inside, 1, 0) & np.roll(inside, -1, 0) & np.roll(
                    inside, 1, 1) & np.roll(inside, -1, 1)
                if core.any():
                    expected = np.broadcast_to(0.25 + 0.5 * colors[k - 1], panel[core].shape)
                    np.testing.assert_allclose(panel[core], expected)
            np.testing.assert_allclose(panel[maps[t].numpy() == 0], 0.5)  # untouched background


def test_a_subset_of_frames_and_the_frames_alone(clip):
    video, ids = clip
    fig = show_clip(video, {"truth": ids}, frames=[0, 3])
    assert [ax.get_title() for ax in fig.axes] == ["frame 0", "frame 3"]
    plain = show_clip(list(video), frames=range(0, T, 2))
    assert len(plain.axes) == 2
    np.testing.assert_allclose(_panel(plain, 0, 0, 2), 0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"masks": {"x": torch.zeros((T - 1, H, W), dtype=torch.int64)}}, "frames for a clip"),
        ({"frames": [T]}, "frames must be"),
        ({"masks": {"x": torch.full((T, H, W), -1)}}, "negative"),
        ({"masks": {"x": torch.zeros((T, H, W), dtype=torch.int64)}, "captions": {"y": ["a"] * T}},
         "names no row"),
        ({"masks": {"x": torch.zeros((T, H, W), dtype=torch.int64)}, "captions": {"x": ["a"]}},
         "captions"),
    ],
)
def test_bad_input_names_the_problem(clip, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_clip(clip[0], **kwargs)
    with pytest.raises(ValueError, match="empty"):
        show_clip([])
