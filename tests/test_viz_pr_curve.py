"""plot_precision_recall draws COCO's interpolated curves, labelled with their AP."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from segedu.metrics import mean_average_precision  # noqa: E402
from segedu.viz import plot_precision_recall  # noqa: E402


def result():
    target = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 60, 60]]),
              "labels": torch.tensor([0, 0, 1])}
    pred = {"boxes": torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60], [21, 20, 30, 30],
                                   [40, 40, 60, 61]]),
            "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.tensor([0, 0, 0, 1])}
    return mean_average_precision([pred], [target])


def test_curves_and_their_ap_labels():
    res = result()
    ax = plot_precision_recall(res, iou_threshold=0.5, class_names=["circle", "square"])
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 3  # two classes and the mean
    assert labels[0].startswith("circle: AP") and labels[1].startswith("square: AP")
    # the mean curve's area is AP@0.5 of the whole evaluation
    assert labels[2] == f"mean: AP {float(res['map_50']):.3f}"
    # each curve is the stored precision at the 101 recall levels
    assert list(ax.get_lines()[0].get_ydata()) == list(res["precision"][0, :, 0, 0, -1])
    plt.close("all")


def test_unknown_threshold_and_wrong_input():
    with pytest.raises(ValueError, match="not one of the evaluated thresholds"):
        plot_precision_recall(result(), iou_threshold=0.42)
    with pytest.raises(ValueError, match="precision"):
        plot_precision_recall({"map": 0.5})
    plt.close("all")
