"""Omnipose without its package: hand-derived cases of the field, flows and boundary, the long thin
bent cell that Cellpose's centre flows lose and Omnipose's keep, the network, its targets, loss,
training and post-processing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segedu.metrics import matching
from segedu.models.bottom_up import cellpose as cp
from segedu.models.bottom_up import omnipose as om
from segedu.models.registry import get_model

from .cases import label_cases, scene, serpentine

SMALL = om.Omnipose(depth=1, width=4)  # targets, loss, postprocess do not depend on the weights


def test_eikonal_update_by_hand():
    # both neighbours 0, unit step: (0 + 0 + sqrt(2)) / 2
    assert om.eikonal_update(torch.tensor(0.0), torch.tensor(0.0), 1.0) == pytest.approx(
        math.sqrt(2) / 2)
    # a = 1, b = 2, f = 1: (3 + sqrt(2 - 1)) / 2 = 2
    assert om.eikonal_update(torch.tensor(1.0), torch.tensor(2.0), 1.0) == pytest.approx(2.0)
    # |a - b| > sqrt(2) f: the radicand is clamped to 0, giving (a + b) / 2 (Omnipose's rule)
    assert om.eikonal_update(torch.tensor(0.0), torch.tensor(5.0), 1.0) == pytest.approx(2.5)
    assert om.eikonal_update(torch.tensor(5.0), torch.tensor(0.0), 1.0) == pytest.approx(2.5)


def test_boundary_and_connectivity_by_hand():
    labels = torch.zeros(7, 9, dtype=torch.long)
    labels[1:6, 1:6] = 2  # a 5x5 square: its ring of 16 pixels is the boundary
    labels[3, 7] = 3  # a lone pixel: no connection, so no boundary
    expected = torch.zeros(7, 9, dtype=torch.bool)
    expected[1:6, 1:6] = True
    expected[2:5, 2:5] = False
    assert torch.equal(om.boundary(labels), expected)
    connected = om.connectivity(labels)
    assert connected.shape == (9, 7, 9) and not connected[4].any()  # no self connection
    assert int(connected[:, 3, 3].sum()) == 8 and int(connected[:, 1, 1].sum()) == 3
    # at the image border a step out of the image is clamped back onto the pixel itself, which
    # counts as connected: a lone pixel in the top-right corner sees itself above, above-right
    # and right (3 connections), so it is a boundary
    corner = torch.zeros(4, 4, dtype=torch.long)
    corner[0, 3] = 1
    assert int(om.connectivity(corner)[:, 0, 3].sum()) == 3 and om.boundary(corner)[0, 3]
    # and a cell cut by the image border has no boundary along that border
    edge = torch.zeros(6, 6, dtype=torch.long)
    edge[:, :3] = 1
    assert not om.boundary(edge)[1:5, 0].any() and om.boundary(edge)[1:5, 2].all()


def test_distance_field_of_a_disk_grows_towards_its_centre():
    """The field is ~ the distance to the boundary: ~1 at the edge, largest at the centre,
    zero outside; the unit flows point to the centre."""
    yy, xx = np.mgrid[:41, :41]
    r = np.hypot(yy - 20, xx - 20)
    disk = torch.from_numpy((r <= 15).astype(np.int64))
    flows, field = om.masks_to_flows(disk)
    assert field[20, 20] == field.max() and (field[disk == 0] == 0).all()
    inside = torch.from_numpy((r <= 13) & (r >= 2))
    # close to the Euclidean distance to the edge, 15.5 - r (within 1.5 px: the smoothing)
    assert (field[inside] - torch.from_numpy(15.5 - r)[inside].float()).abs().max() < 1.5
    to_centre = torch.from_numpy(np.stack([20 - yy, 20 - xx]) / np.maximum(r, 1e-9)).float()
    assert (flows * to_centre).sum(dim=0)[inside].min() > 0.95
    norm = flows.norm(dim=0)
    torch.testing.assert_close(norm[inside], torch.ones(int(inside.sum())), atol=1e-5, rtol=0)
    assert (flows[:, disk == 0] == 0).all()


def test_empty_image_and_bad_inputs():
    empty = torch.zeros(8, 9, dtype=torch.long)
    flows, field = om.masks_to_flows(empty)
    assert flows.shape == (2, 8, 9) and not flows.any() and not field.any()
    assert om.compute_masks(torch.zeros(2, 8, 9), torch.full((8, 9), -5.0)).eq(0).all()
    with pytest.raises(TypeError, match="integer"):
        om.masks_to_flows(empty.float())
    with pytest.raises(ValueError, match=">= 0"):
        om.masks_to_flows(empty - 1)
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        om.compute_masks(torch.zeros(3, 8, 9), torch.zeros(8, 9))
    with pytest.raises(ValueError, match="distance"):
        om.compute_masks(torch.zeros(2, 8, 9), torch.zeros(8, 8))


def test_long_thin_bent_cell_cellpose_centre_flows_fail_omnipose_flows_do_not():
    """A 3-pixel-wide cell winding 8 times across a 64x64 image (1,428 pixels, ~500 long).

    Cellpose's heat, diffused from one centre, decays along the cell so fast that on 243 pixels
    of the far ends (164 of them on the cell's edge) it is below the 1e-60 of the normalisation:
    their flows are exactly 0 and, even where they are not, a pixel needs more than Cellpose's 200
    Euler steps to reach the centre; its masks keep only 70 % of the cell. Omnipose's distance
    field needs no centre: every edge pixel has a unit flow towards the nearby skeleton (the flows
    vanish only on the skeleton itself, the middle row, where the pixels already are), and the
    cell comes back whole (one pixel of the 5-pixel border band, where the boundary output cuts
    skeletons, is lost).
    """
    labels = torch.from_numpy(serpentine(8))
    assert int(labels.sum()) == 1428
    inside = labels > 0
    # Cellpose, from its exact flows and a confident probability
    cp_flows = cp.masks_to_flows(labels)
    edge = om.boundary(labels)
    assert int((cp_flows.norm(dim=0)[inside] == 0).sum()) == 243
    assert int((cp_flows.norm(dim=0)[edge] == 0).sum()) == 164
    cp_masks = cp.compute_masks(5 * cp_flows, torch.where(inside, 10.0, -10.0),
                                flow_threshold=None, min_size=0)
    assert int(cp_masks.max()) == 1 and int((cp_masks > 0).sum()) == 1003
    # Omnipose, from its exact flows, distance and boundary
    om_flows, field = om.masks_to_flows(labels)
    assert (om_flows.norm(dim=0)[edge] > 0.999).all()
    assert (field[inside & (om_flows.norm(dim=0) == 0)] > 1.5).all()  # the skeleton's ridge
    om_masks = om.compute_masks(5 * om_flows, torch.where(inside, field, -5.0),
                                om.boundary(labels).float() * 10 - 5, min_size=0)
    assert int(om_masks.max()) == 1 and int((om_masks > 0).sum()) == 1427
    iou = {name: ((m > 0) & inside).sum().item() / ((m > 0) | inside).sum().item()
           for name, m in [("cellpose", cp_masks), ("omnipose", om_masks)]}
    assert iou["cellpose"] < 0.71 and iou["omnipose"] > 0.999


def test_parameter_count_and_registry():
    """504,724 = the builder's docstring (Cellpose's slim U-Net with a 4-map head)."""
    assert sum(p.numel() for p in om.omnipose().parameters()) == 504_724
    assert "504,724" in om.omnipose.__doc__
    assert isinstance(get_model("omnipose"), om.Omnipose)


def test_forward_shapes_and_bad_inputs():
    model = om.Omnipose(in_channels=2, depth=2, width=4).eval()
    out = model(torch.rand(2, 2, 32, 16))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "flows": (2, 2, 32, 16), "distance": (2, 1, 32, 16), "boundary": (2, 1, 32, 16)}
    with pytest.raises(ValueError, match="multiple of"):
        model(torch.rand(1, 2, 30, 16))
    with pytest.raises(ValueError, match="images must be"):
        model(torch.rand(1, 1, 32, 16))


def test_targets_and_loss_by_hand():
    labels = torch.from_numpy(label_cases()["touching"])
    targets = SMALL.targets(labels)
    unit, field = om.masks_to_flows(labels)
    torch.testing.assert_close(targets["flows"], 5 * unit)
    assert torch.equal(targets["distance"][0][labels == 0], torch.full((int((labels == 0).sum()),),
                                                                       -5.0))
    torch.testing.assert_close(targets["distance"][0][labels > 0], field[labels > 0])
    assert torch.equal(targets["boundary"][0], om.boundary(labels).float())
    assert set(targets["weight"].unique().tolist()) == {0.5, 1.0}
    batch = torch.utils.data.default_collate([targets, targets])
    # outputs equal to the targets: only the boundary's cross-entropy is left
    outputs = {"flows": batch["flows"], "distance": batch["distance"],
               "boundary": 20 * batch["boundary"] - 10}
    expected = torch.nn.functional.binary_cross_entropy_with_logits(outputs["boundary"],
                                                                    batch["boundary"])
    torch.testing.assert_close(SMALL.loss(outputs, batch), expected)
    # one flow component off by 1 on every pixel: + mean(w) / 2 (half the flow elements)
    shifted = dict(outputs, flows=outputs["flows"] + torch.tensor([1.0, 0.0])[:, None, None])
    torch.testing.assert_close(SMALL.loss(shifted, batch),
                               expected + batch["weight"].mean() / 2)
    with pytest.raises(ValueError, match="do not match"):
        SMALL.loss(dict(outputs, distance=outputs["distance"][:, :, :4]), batch)
    # float16 outputs (a GPU's autocast): the loss of their float32 values, in float32
    half = {key: value.half() for key, value in shifted.items()}
    loss = SMALL.loss(half, batch)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, SMALL.loss({k: v.float() for k, v in half.items()}, batch),
                               rtol=0, atol=0)


def test_postprocess_of_true_targets_gives_back_the_labels():
    labels = torch.from_numpy(scene())
    targets = torch.utils.data.default_collate([SMALL.targets(labels)])
    outputs = {"flows": targets["flows"], "distance": targets["distance"],
               "boundary": 10 * targets["boundary"] - 5}
    (predicted,) = SMALL.postprocess(outputs)
    assert predicted.dtype == torch.int64 and predicted.shape == labels.shape
    result = matching(labels, predicted, thresh=0.9)
    assert result["tp"] == 4 and result["fp"] == 0 and result["fn"] == 0


def test_loss_goes_down_and_predict_instances_api():
    torch.manual_seed(0)
    model = om.omnipose(depth=2, width=8)
    labels = [torch.from_numpy(scene())[:32, :64], torch.from_numpy(scene())[16:48, :64]]
    images = torch.stack([(lab > 0).float()[None] + 0.1 * torch.randn(1, 32, 64)
                          for lab in labels])
    targets = torch.utils.data.default_collate([model.targets(lab) for lab in labels])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = model.loss(model(images), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    predicted = model.predict_instances(images)
    assert model.training and len(predicted) == 2
    for pred in predicted:
        assert pred.shape == (32, 64) and pred.dtype == torch.int64
        assert pred.unique().tolist() == list(range(int(pred.max()) + 1))
