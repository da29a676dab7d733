"""Flow following, end-point clustering, flow error and clean-up against cellpose 4.2.1.1.

References: ``cellpose.dynamics.follow_flows`` (Euler steps with ``grid_sample``),
``get_masks_torch``, ``flow_error``, ``remove_bad_flow_masks``, ``compute_masks`` and
``cellpose.utils.fill_holes_and_remove_small_masks``. segedu performs the same float32 operations
in the same order, so end points are compared for exact equality, and masks too (segedu renumbers
in cellpose's order of first appearance, so no relabelling is needed). The flow error differs only
by float64 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segedu.data.synthetic_cells import SyntheticCells
from segedu.metrics import matching
from segedu.models.bottom_up.cellpose import (
    compute_masks,
    fill_holes_and_remove_small,
    flow_error,
    follow_flows,
    masks_from_positions,
    masks_to_flows,
    remove_bad_flow_masks,
)

dynamics = pytest.importorskip("cellpose.dynamics")  # ~9 s, once per test session
cp_utils = pytest.importorskip("cellpose.utils")
# cellpose's coo
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")

CPU = torch.device("cpu")
DATA = SyntheticCells(size=128, length=10, seed=0)


def network_like_outputs(labels: torch.Tensor, seed: int,
                         noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """5x true flows plus Gaussian noise, and noisy cell-probability logits (float32)."""
    g = torch.Generator().manual_seed(seed)
    flows = 5 * masks_to_flows(labels) + noise * torch.randn((2, *labels.shape), generator=g)
    cellprob = torch.where(labels > 0, 3.0, -3.0) + noise * torch.randn(labels.shape, generator=g)
    return flows, cellprob


def reference_follow(flows: torch.Tensor, foreground: torch.Tensor):
    dP, fg = flows.numpy(), foreground.numpy()
    inds = np.nonzero(fg)
    return dynamics.follow_flows(dP * fg / 5.0, inds=inds, niter=200, device=CPU), inds


def cases():
    """(name, labels, noise): synthetic cells with true and noisy flows, and small edge cases."""
    out = [("cells0", DATA[0][1]["instances"], 0.0), ("cells1_noisy", DATA[1][1]["instances"], 1.0)]
    border = torch.zeros((32, 32), dtype=torch.long)
    border[:12, :10] = 1  # touches two borders
    border[:12, 10:22] = 2  # touches 1
    border[20:, 5:30] = 5  # touches the bottom border; ids not consecutive
    out.append(("border_touching", border, 0.0))
    one = torch.zeros((32, 32), dtype=torch.long)
    one[10:20, 8:25] = 1
    out.append(("one_object_noisy", one, 0.5))
    return out


@pytest.mark.parametrize("name, labels, noise", cases(), ids=[c[0] for c in cases()])
def test_follow_and_cluster_equal_cellpose(name, labels, noise):
    flows, cellprob = network_like_outputs(labels, seed=len(name), noise=noise)
    foreground = cellprob > 0
    ref_positions, inds = reference_follow(flows, foreground)
    positions = follow_flows(flows * foreground / 5.0, foreground)
    # end points: identical float32 arithmetic
    torch.testing.assert_close(positions[:, foreground], ref_positions, rtol=0, atol=0)
    # pixels outside the foreground stay put
    yy, xx = torch.meshgrid(torch.arange(labels.shape[0]), torch.arange(labels.shape[1]),
                            indexing="ij")
    assert (positions[0][~foreground] == yy[~foreground]).all()
    assert (positions[1][~foreground] == xx[~foreground]).all()
    # clustering: the same labels, in the same order
    ref_masks = dynamics.get_masks_torch(ref_positions.int(), inds, tuple(labels.shape))
    masks = masks_from_positions(positions, foreground)
    np.testing.assert_array_equal(masks.numpy(), ref_masks)
    assert masks.max() > 0
    # flow error per mask, and the removal of bad masks
    ref_errors, _ = dynamics.flow_error(ref_masks.astype(np.int64), flows.numpy())
    np.testing.assert_allclose(flow_error(masks, flows).numpy(), ref_errors, rtol=1e-6, atol=1e-9)
    for threshold in (0.4, 0.05):
        ref_kept = dynamics.remove_bad_flow_masks(ref_masks.copy(), flows.numpy(),
                                                  threshold=threshold)
        np.testing.assert_array_equal(remove_bad_flow_masks(masks, flows, threshold).numpy(),
                                      ref_kept)
    # the whole post-processing: compute_masks + fill_holes_and_remove_small_masks (min_size 15)
    ref = dynamics.compute_masks(flows.numpy(), cellprob.numpy(), niter=200)
    ref = cp_utils.fill_holes_and_remove_small_masks(ref, min_size=15)
    np.testing.assert_array_equal(compute_masks(flows, cellprob).numpy(), ref)


def test_random_flow_field_equals_cellpose():
    """Random flows everywhere (no cell structure): end points and clusters still agree."""
    g = torch.Generator().manual_seed(3)
    flows = 3 * torch.randn((2, 40, 48), generator=g)
    foreground = torch.rand((40, 48), generator=g) > 0.3
    ref_positions, inds = reference_follow(flows, foreground)
    positions = follow_flows(flows * foreground / 5.0, foreground)
    torch.testing.assert_close(positions[:, foreground], ref_positions, rtol=0, atol=0)
    assert positions.min() >= 0 and positions[0].max() <= 39 and positions[1].max() <= 47
    ref_masks = dynamics.get_masks_torch(ref_positions.int(), inds, (40, 48))
    np.testing.assert_array_equal(masks_from_positions(positions, foreground).numpy(), ref_masks)


def test_empty_and_background_only():
    empty = torch.zeros((32, 32), dtype=torch.long)
    flows, cellprob = torch.zeros((2, 32, 32)), torch.full((32, 32), -5.0)
    assert (compute_masks(flows, cellprob) == 0).all()
    assert (masks_from_positions(follow_flows(flows, cellprob > 0), cellprob > 0) == 0).all()
    assert flow_error(empty, flows).numel() == 0
    assert (remove_bad_flow_masks(empty, flows) == 0).all()
    # a foreground too small to make a seed (<= 10 end points): no mask, as cellpose
    cellprob[3:5, 3:7] = 5.0
    ref = dynamics.compute_masks(flows.numpy(), cellprob.numpy())
    assert (compute_masks(flows, cellprob, min_size=-1) == 0).all() and ref.max() == 0


def test_flow_error_non_consecutive_ids():
    """cellpose's flow_error needs ids 1..K; segedu gives NaN for absent ids and the same errors."""
    labels = DATA[2][1]["instances"]
    flows, _ = network_like_outputs(labels, seed=0, noise=1.0)
    shuffled = labels * 3  # ids 3, 6, 9, ...
    errors = flow_error(shuffled, flows)
    assert errors.shape == (3 * int(labels.max()),)
    assert torch.isnan(errors[0]) and torch.isnan(errors[1])
    ref, _ = dynamics.flow_error(labels.numpy(), flows.numpy())
    np.testing.assert_allclose(errors[2::3].numpy(), ref, rtol=1e-6, atol=1e-9)


def test_following_true_flows_gives_back_the_labels():
    """The true flows of a label image lead back to it (IoU 0.5 accuracy)."""
    for i in range(3):
        labels = DATA[i][1]["instances"]
        flows = 5 * masks_to_flows(labels)
        cellprob = torch.where(labels > 0, 1.0, -1.0)
        predicted = compute_masks(flows, cellprob)
        assert matching(labels, predicted, thresh=0.5)["accuracy"] >= 0.95


def test_fill_holes_and_remove_small_equals_cellpose():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :40]
    ring = (((yy - 20) ** 2 + (xx - 20) ** 2) < 150) & (((yy - 20) ** 2 + (xx - 20) ** 2) > 20)
    base = np.zeros((40, 40), np.int64)
    base[ring] = 2
    base[18:22, 18:22] = 1  # a mask inside the other's hole: overwritten by the filling
    base[0:3, 0:3] = 4  # 9 pixels: too small
    base[30:38, 1:9] = 3
    base[33:35, 3:5] = 0  # a hole
    cases = [base, rng.integers(0, 5, size=(30, 30)) * (rng.random((30, 30)) < 0.8)]
    for labels in cases:
        for min_size in (15, 5, -1):
            ref = cp_utils.fill_holes_and_remove_small_masks(labels.copy(), min_size=min_size)
            ours = fill_holes_and_remove_small(torch.from_numpy(labels), min_size=min_size)
            np.testing.assert_array_equal(ours.numpy(), ref)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: follow_flows(torch.zeros(3, 8, 8), torch.ones(8, 8, dtype=torch.bool)), ValueError,
         "flows"),
        (lambda: follow_flows(torch.zeros(2, 8, 8), torch.ones(8, 8)), ValueError, "mask"),
        (lambda: follow_flows(torch.zeros(2, 8, 8, dtype=torch.long),
                              torch.ones(8, 8, dtype=torch.bool)),
         TypeError, "floating"),
        (
            lambda: masks_from_positions(torch.zeros(2, 8, 8), torch.ones(7, 8, dtype=torch.bool)),
            ValueError,
            "mask",
        ),
        (lambda: flow_error(torch.zeros(8, 8, dtype=torch.long), torch.zeros(2, 8, 9)), ValueError,
         "flows"),
        (lambda: compute_masks(torch.zeros(2, 8, 8), torch.zeros(8, 9)), ValueError, "cellprob"),
        (lambda: fill_holes_and_remove_small(torch.zeros(8, 8)), TypeError, "integer"),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_clustering_of_crowded_end_points_equals_cellpose():
    """End points in overlapping clouds: grown seeds overlap, and the seed with more end points
    must win (cellpose sorts the seeds by count and keeps the larger index)."""
    g = torch.Generator().manual_seed(5)
    foreground = torch.ones((40, 40), dtype=torch.bool)
    foreground[:, :4] = False  # some pixels are not followed
    centres = torch.tensor([[18.0, 18.0], [18.0, 23.0], [24.0, 20.0], [12.0, 25.0], [30.0, 30.0]])
    which = torch.randint(0, len(centres), (40, 40), generator=g)
    positions = centres[which].permute(2, 0, 1) + 1.5 * torch.randn((2, 40, 40), generator=g)
    positions = positions.clamp(0, 39)
    inds = np.nonzero(foreground.numpy())
    ref = dynamics.get_masks_torch(positions[:, foreground].int(), inds, (40, 40))
    ours = masks_from_positions(positions, foreground)
    np.testing.assert_array_equal(ours.numpy(), ref)
    assert ours.max() >= 3
    # max_size_fraction: with a small limit the big clusters go
    ref = dynamics.get_masks_torch(positions[:, foreground].int(), inds, (40, 40),
                                   max_size_fraction=0.15)
    ours = masks_from_positions(positions, foreground, max_size_fraction=0.15)
    np.testing.assert_array_equal(ours.numpy(), ref)
