"""Cellpose's flow targets (``segedu.models.bottom_up.cellpose.flows``) against cellpose 4.2.1.1.

The reference is ``cellpose.dynamics.masks_to_flows_gpu`` run on a CPU torch device (the same
float64 diffusion as segedu, in the same summation order), so flows agree to rounding (1e-12).
Cellpose's function needs consecutive ids (``find_objects`` gives ``None`` for a missing id and its
centre computation then fails); its own training path (``labels_to_flows``) renumbers the labels
first, so on non-consecutive ids we compare with cellpose on the renumbered image: the flows
depend only on which pixels share a label, not on the id values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segedu.data.synthetic_cells import SyntheticCells
from segedu.models.bottom_up.cellpose import (
    default_diffusion_iterations,
    diffuse_heat,
    mask_centers,
    masks_to_flows,
    renumber,
)

dynamics = pytest.importorskip("cellpose.dynamics")  # ~9 s, once per test session
fastremap = pytest.importorskip("fastremap")
from scipy.ndimage import find_objects  # noqa: E402

CPU = torch.device("cpu")


def reference_flows(labels: np.ndarray) -> np.ndarray:
    """cellpose's unit flows (2, H, W) float64, on the labels renumbered 1..K."""
    labels = fastremap.renumber(labels.astype(np.int64), in_place=False)[0]
    return dynamics.masks_to_flows_gpu(labels, device=CPU)[0]


def edge_cases() -> dict[str, np.ndarray]:
    cases = {}
    cases["empty"] = np.zeros((16, 20), np.int64)
    one_pixel = np.zeros((16, 20), np.int64)
    one_pixel[5, 7] = 1
    cases["one_pixel"] = one_pixel
    yy, xx = np.mgrid[:32, :32]
    cases["one_disk"] = ((yy - 15.3) ** 2 + (xx - 16.6) ** 2 < 81).astype(np.int64)
    touching = np.zeros((24, 30), np.int64)
    touching[4:20, 3:15] = 1
    touching[4:20, 15:27] = 2  # shares a vertical edge with 1
    touching[2:6, 10:20] = 3  # overlaps both from above
    cases["touching"] = touching
    border = np.zeros((20, 20), np.int64)
    border[:8, :6] = 1  # corner
    border[10:, 12:] = 2  # other corner
    border[5:14, 18:] = 3  # right edge
    cases["border"] = border
    non_consecutive = np.zeros((20, 24), np.int64)
    non_consecutive[2:9, 2:10] = 7
    non_consecutive[11:18, 4:20] = 3
    non_consecutive[2:9, 12:22] = 100
    cases["non_consecutive"] = non_consecutive
    ring = ((yy - 16) ** 2 + (xx - 16) ** 2 < 144) & ((yy - 16) ** 2 + (xx - 16) ** 2 > 25)
    c_shape = ring & ~((xx > 16) & (np.abs(yy - 16) < 3))  # mean outside the mask: nearest pixel
    cases["c_shape"] = c_shape.astype(np.int64) * 2
    return cases


@pytest.mark.parametrize("name", list(edge_cases()))
def test_flows_equal_cellpose_on_edge_cases(name):
    labels = edge_cases()[name]
    ours = masks_to_flows(torch.from_numpy(labels), dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, reference_flows(labels), rtol=0, atol=1e-12)


def test_flows_equal_cellpose_on_synthetic_cells_and_random_labels():
    data = SyntheticCells(size=128, length=10, seed=0)
    images = [data[i][1]["instances"].numpy() for i in range(2)]
    rng = np.random.default_rng(0)
    for _ in range(3):  # random labels: objects of several pieces, many touching
        images.append(rng.integers(0, 6, size=(24, 28)) * rng.integers(0, 2, size=(24, 28)))
    for labels in images:
        ours = masks_to_flows(torch.from_numpy(labels), dtype=torch.float64).numpy()
        np.testing.assert_allclose(ours, reference_flows(labels), rtol=0, atol=1e-12)
        # the float32 default is the same field, rounded
        np.testing.assert_allclose(masks_to_flows(torch.from_numpy(labels)).numpy(), ours,
                                   atol=1e-6)


def test_centres_and_iterations_equal_cellpose():
    """Centres: cellpose's ``get_centers`` (rounded bounding-box mean, else nearest mask pixel)."""
    data = SyntheticCells(size=128, length=10, seed=0)
    for labels in [data[2][1]["instances"].numpy(), edge_cases()["c_shape"] // 2,
                   edge_cases()["touching"]]:
        slices = find_objects(labels)
        ref_centres, ext = dynamics.get_centers(labels, slices)
        centres, ids = mask_centers(torch.from_numpy(labels))
        assert ids.tolist() == list(range(1, labels.max() + 1))
        np.testing.assert_array_equal(centres.numpy(), ref_centres)
        assert default_diffusion_iterations(torch.from_numpy(labels)) == 2 * ext.max()


def test_disk_flows_point_to_its_centre():
    """By symmetry the heat of a disk decreases with the distance to the centre, so the flows
    point along -(p - c) / |p - c|: the mean cosine with that direction is close to 1."""
    yy, xx = np.mgrid[:41, :41]
    r2 = (yy - 20) ** 2 + (xx - 20) ** 2
    disk = torch.from_numpy((r2 <= 15**2).astype(np.int64))
    centres, _ = mask_centers(disk)
    assert centres.tolist() == [[20, 20]]
    flows = masks_to_flows(disk)
    inside = (disk > 0) & torch.from_numpy(r2 > 0)  # the centre itself has no direction
    to_centre = torch.stack([20 - torch.from_numpy(yy), 20 - torch.from_numpy(xx)]).float()
    to_centre = to_centre / to_centre.norm(dim=0).clamp_min(1e-9)
    cosine = (flows * to_centre).sum(dim=0)[inside]
    assert cosine.mean() > 0.95
    assert cosine.min() > 0.5
    # unit vectors inside, zero outside
    norm = flows.norm(dim=0)
    torch.testing.assert_close(norm[inside], torch.ones(int(inside.sum())), atol=1e-5, rtol=0)
    assert (flows[:, disk == 0] == 0).all()
    # the 2021 variant (gradient of log(1 + T)) points the same way
    log_flows = masks_to_flows(disk, log_heat=True)
    assert (log_flows * flows).sum(dim=0)[inside].mean() > 0.99


def test_heat_is_confined_to_its_mask():
    labels = torch.from_numpy(edge_cases()["touching"])
    centres, _ = mask_centers(labels)
    heat = diffuse_heat(labels, centres, 50)[1:-1, 1:-1]
    assert (heat[labels == 0] == 0).all()
    assert (heat[labels > 0] > 0).all()
    # with only object 1's source burning, no heat crosses into the touching objects 2 and 3
    heat1 = diffuse_heat(labels, centres[:1], 50)[1:-1, 1:-1]
    assert (heat1[labels != 1] == 0).all()


def test_renumber_equals_fastremap():
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 0, 3, 7, 9, 100], size=(13, 17))
    np.testing.assert_array_equal(
        renumber(torch.from_numpy(labels)).numpy(), fastremap.renumber(labels.copy())[0]
    )


@pytest.mark.parametrize(
    "bad, error",
    [
        (torch.zeros(4, 4), TypeError),  # float labels
        (torch.zeros(4, 4, dtype=torch.bool), TypeError),
        (torch.zeros(1, 4, 4, dtype=torch.long), ValueError),  # not (H, W)
        (torch.full((4, 4), -1), ValueError),  # negative id
        (np.zeros((4, 4), np.int64), TypeError),  # not a tensor
    ],
)
def test_bad_labels_raise(bad, error):
    with pytest.raises(error, match="instances"):
        masks_to_flows(bad)
