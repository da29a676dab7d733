"""segedu.zoo.cells (data, scoring, training of the cell models) and the U-Net weight-map
baseline."""

import numpy as np
import pytest
import torch

from segedu.data import SyntheticCells
from segedu.metrics import matching
from segedu.models import get_model
from segedu.models.bottom_up.unet_weight_map import UNetWeightMap, separate_touching
from segedu.zoo import ZOO, cells
from segedu.zoo.cells import (
    CellTargets,
    cell_tensors,
    evaluate_cells,
    held_out_cells,
    score_instances,
)


def _instances(seed: int, index: int, size: int = 128) -> torch.Tensor:
    return SyntheticCells(size=size, length=index + 1,
                          seed=seed)[index][1]["instances"].as_subclass(torch.Tensor)


def _separated_by_loops(labels: np.ndarray) -> np.ndarray:
    """Independent version: look at the 4 neighbours of every pixel one by one."""
    out = labels.copy()
    h, w = labels.shape
    for y in range(h):
        for x in range(w):
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and labels[y, x] > 0 and labels[yy, xx] > 0 \
                        and labels[yy, xx] != labels[y, x]:
                    out[y, x] = 0
    return out


def test_separate_touching_hand_cases_and_loops():
    assert separate_touching(torch.tensor([[1, 1, 2, 2]])).tolist() == [[1, 0, 0, 2]]
    assert separate_touching(torch.tensor([[1, 0, 2]])).tolist() == [[1, 0, 2]]  # apart: unchanged
    # a nucleus enclosed by another, ids not consecutive, the image border
    labels = np.array([[5, 5, 5, 5], [5, 9, 9, 5], [5, 5, 5, 5], [3, 3, 0, 0]])
    assert np.array_equal(separate_touching(labels).numpy(), _separated_by_loops(labels))
    instances = _instances(4, 0, size=48)
    before = instances.clone()
    assert np.array_equal(separate_touching(instances).numpy(),
                          _separated_by_loops(instances.numpy()))
    assert torch.equal(instances, before), "separate_touching changed its input"
    with pytest.raises(ValueError, match="integer label image"):
        separate_touching(np.zeros((2, 3, 4), dtype=np.int64))


def test_components_of_the_gapped_truth_give_the_nuclei_back():
    """A perfect foreground with gaps must give back every nucleus, and nearly its exact pixels: the
    gap pixels are returned to the nuclei, the outer edges are left as they are."""
    model = UNetWeightMap()
    for index in range(3):
        instances = _instances(3, index)
        labels = model.components(separate_touching(instances).numpy() > 0)
        assert labels.dtype == torch.int64 and labels.shape == instances.shape
        assert matching(instances, labels, thresh=0.5)["accuracy"] == 1.0
        assert matching(instances, labels, thresh=0.8)["accuracy"] >= 0.95
        # without the gaps given back, the small nuclei fall below IoU 0.8: the step matters
        kept = labels.numpy() * (separate_touching(instances).numpy() > 0)
        plain = torch.from_numpy(np.unique(kept, return_inverse=True)[1].reshape(labels.shape))
        assert matching(instances, plain, thresh=0.9)["accuracy"] < matching(instances, labels,
                                                                             thresh=0.9)["accuracy"]


def test_unet_weight_map_targets_and_loss():
    model = get_model("unet_weight_map")
    assert sum(p.numel() for p in model.parameters()) == 482_466
    instances = _instances(2, 0, size=64)
    targets = model.targets(instances)
    assert targets["semantic"].dtype == torch.int64 and targets["weight"].shape == (64, 64)
    assert torch.equal(targets["semantic"], (separate_touching(instances) > 0).long())
    batch = {k: v[None] for k, v in targets.items()}
    image = SyntheticCells(size=64, length=1, seed=2)[0][0].as_subclass(torch.Tensor)[None]
    loss = model.loss(model(image), batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    labels = model.predict_instances(image)
    assert len(labels) == 1 and labels[0].shape == (64, 64) and labels[0].dtype == torch.int64


def test_score_instances_adds_the_counts_over_the_images():
    truths = [_instances(5, i, size=64) for i in range(3)]
    # predictions: the truth, the truth with one nucleus removed, an empty image
    removed = truths[1].clone()
    removed[removed == 1] = 0
    predictions = [truths[0], removed, torch.zeros_like(truths[2])]
    scores = score_instances(predictions, truths, thresholds=(0.5, 0.9))
    n = [int(t.max()) for t in truths]
    tp, fn = n[0] + n[1] - 1, 1 + n[2]
    assert (scores[0.5]["tp"], scores[0.5]["fp"], scores[0.5]["fn"]) == (tp, 0, fn)
    assert scores[0.5]["accuracy"] == pytest.approx(tp / (tp + fn))
    assert scores[0.5]["f1"] == pytest.approx(2 * tp / (2 * tp + fn))
    # every match is exact (IoU 1): PQ = tp / (tp + fn / 2)
    assert scores[0.5]["panoptic_quality"] == pytest.approx(tp / (tp + fn / 2))
    # PQ against matching's own per-image PQ on a single imperfect prediction
    shifted = torch.roll(truths[0], 1, dims=1)
    single = score_instances([shifted], [truths[0]])[0.5]["panoptic_quality"]
    assert single == pytest.approx(matching(truths[0], shifted, thresh=0.5)["panoptic_quality"])
    assert score_instances([torch.zeros(4, 4, dtype=torch.long)],
                           [torch.zeros(4, 4, dtype=torch.long)])[0.5][
        "accuracy"] == 0.0  # nothing to find, nothing found: 0 as StarDist defines it
    with pytest.raises(ValueError, match="2 predictions for 3"):
        score_instances(predictions[:2], truths)


def test_evaluate_cells_of_the_truth_is_perfect_and_the_split_is_fixed():
    images, instances = held_out_cells(4)
    again_images, again = cell_tensors(seed=1, length=4)
    assert torch.equal(instances, again) and torch.equal(images, again_images)
    assert images.shape == (4, 1, 128, 128)

    def oracle(batch: torch.Tensor) -> list[torch.Tensor]:
        # find each image in the split: the predictions are the true label images
        return [instances[[torch.equal(b, im) for im in images].index(True)] for b in batch]

    score = evaluate_cells(oracle, length=4, batch=3)
    assert score["accuracy_50"] == score["accuracy_90"] == score["f1_70"] == score["pq"] == 1.0
    with pytest.raises(ValueError, match="has 100 images"):
        held_out_cells(101)


def test_cell_targets_are_computed_once_and_kept_in_float16():
    images, instances = cell_tensors(seed=0, length=3, size=32)
    calls = []

    def targets_fn(labels):
        calls.append(1)
        return {"prob": (labels > 0).float()[None] / 3, "ids": labels}

    data = CellTargets(images, instances, targets_fn)
    first = data[1][1]
    second = data[1][1]
    assert len(calls) == 1
    assert first["prob"].dtype == torch.float32 and first["ids"].dtype == torch.int64
    torch.testing.assert_close(second["prob"],
                               ((instances[1] > 0).float()[None] / 3).half().float())
    with pytest.raises(ValueError, match="same length"):
        CellTargets(images, instances[:2], targets_fn)


def test_cell_recipe_writes_a_checkpoint_and_a_card(tmp_path):
    cells.train(cells.CellConfig("unet_weight_map", steps=2, images=8, test_images=2, batch=4,
                                 out=tmp_path, device="cpu"))
    card = (tmp_path / "unet_weight_map_cells.md").read_text()
    assert "2 steps" in card and "batch 4 from 8" in card
    assert "| 0.5 |" in card and "| 0.9 |" in card
    model = get_model("unet_weight_map", **ZOO["unet_weight_map"].kwargs)
    state = torch.load(tmp_path / "unet_weight_map_cells.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
