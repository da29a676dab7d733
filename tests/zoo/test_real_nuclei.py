"""segedu.zoo.cells on a real image: diameters, the classical baselines, evaluate_real_nuclei."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.draw import disk

from segedu.zoo.cells import (
    cell_tensors,
    classical_predictors,
    evaluate_real_nuclei,
    median_diameter,
    synthetic_diameter,
)


def test_median_diameter_equals_cellposes():
    utils = pytest.importorskip("cellpose.utils")
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 30):  # odd and even numbers of objects: numpy's median either way
        labels = rng.integers(0, n + 1, size=(40, 50))
        expected = utils.diameters(labels)[0]
        assert median_diameter([torch.from_numpy(labels)]) == pytest.approx(expected, rel=1e-12)
    # over several images the objects of all are pooled
    a, b = rng.integers(0, 4, size=(20, 20)), rng.integers(0, 6, size=(30, 20))
    pooled = np.concatenate([a.ravel(), np.where(b > 0, b + 3, 0).ravel()])
    assert median_diameter([torch.from_numpy(a),
                            torch.from_numpy(b)]) == pytest.approx(utils.diameters(pooled)[0])
    with pytest.raises(ValueError, match="no object"):
        median_diameter([torch.zeros(5, 5, dtype=torch.int64)])


def test_synthetic_diameter_is_that_of_the_training_images():
    assert synthetic_diameter(4) == median_diameter(cell_tensors(seed=0, length=4)[1])


def _two_discs(gap: int) -> torch.Tensor:
    """(1, 64, 64): two bright discs of radius 10, ``gap`` pixels apart at their closest
    (0: touching)."""
    image = np.zeros((64, 64))
    for centre in (20, 40 + gap):
        image[disk((32, centre), 10, shape=image.shape)] = 0.9
    return torch.from_numpy(image).float()[None]


def test_classical_predictors_merge_or_split_touching_discs():
    methods = classical_predictors()
    components = methods["connected components (Otsu)"]
    watershed = methods["distance-transform watershed"]
    apart, touching = _two_discs(6), _two_discs(0)
    for method in (components, watershed):
        assert int(method(apart[None])[0].max()) == 2
    assert int(components(touching[None])[0].max()) == 1  # one component: the two discs merged
    assert int(watershed(touching[None])[0].max()) == 2  # two peaks of the distance transform
    blank = components(torch.zeros(2, 1, 16, 16))
    assert len(blank) == 2 and all(int(b.max()) == 0 for b in blank)


def test_evaluate_real_nuclei_of_the_truth():
    data = pytest.importorskip("segedu.data")
    pytest.importorskip("stardist.data")
    image, truth = data.dsb2018_nuclei()
    seen = []

    def oracle(x: torch.Tensor) -> list[torch.Tensor]:
        seen.append(x)
        size = seen[-1].shape[-2:]
        return [truth.clone()] if size == truth.shape else [F.interpolate(
            truth[None, None].double(), size=(round(512 * scale), round(512 * scale)),
            mode="nearest")[0, 0].long()]

    scale = 1.0
    scores, labels = evaluate_real_nuclei(oracle, scale=1.0)
    assert seen[0].shape == (1, 1, 512, 512) and torch.equal(seen[0][0], image)
    assert torch.equal(labels, truth)
    assert scores["accuracy_90"] == 1 and scores["pq"] == pytest.approx(1)
    assert scores["nuclei"] == scores["objects"] == scores["tp"] == int(truth.max())
    assert scores["fp"] == scores["fn"] == 0

    scale = synthetic_diameter() / median_diameter([truth])
    scores, labels = evaluate_real_nuclei(oracle, scale="diameter")
    assert scores["scale"] == pytest.approx(scale)
    side = round(512 * scale)
    assert seen[1].shape == (1, 1, -side // 16 * -16,
                             -side // 16 * -16)  # padded up to a multiple of 16
    assert float(seen[1][..., side:, :].abs().max()) == 0 and float(seen[1][...,
                                                                            side:].abs().max()) == 0
    assert labels.shape == truth.shape
    # the truth, down and up again: nearly every nucleus still found at IoU 0.5, fewer at 0.9
    assert scores["accuracy_50"] > 0.9 and scores["accuracy_90"] < scores["accuracy_50"]

    scores, labels = evaluate_real_nuclei(
        lambda x: [torch.zeros(x.shape[-2:], dtype=torch.int64)], scale=1.0)
    assert scores["accuracy_50"] == 0 and scores["pq"] == 0 and scores["objects"] == 0
    assert scores["tp"] == scores["fp"] == 0 and scores["fn"] == scores["nuclei"]
    for bad in (0, -1.0, "size"):
        with pytest.raises(ValueError, match="scale"):
            evaluate_real_nuclei(oracle, scale=bad)
