"""Omnipose's distance field, flows, boundary and mask reconstruction against omnipose 1.1.4.

The reference functions run on a CPU torch device, in float32 as segedu's, with the same stencil
and iteration order, so fields and flows agree to rounding (atol 2e-5; the largest differences seen
are 8.6e-6 on the field, which grows to ~10 here, 1.8e-6 on the gradient and 4.7e-6 on the unit
flows: the reference projects the differences by a matrix product and smooths by a mean, segedu
by sums) and masks exactly. What differs on purpose:

- the whole pipeline is compared with ``diam_threshold=0`` (Omnipose's rounding clustering;
  segedu has no DBSCAN branch), ``flow_threshold=0`` (no flow-error check, as Omnipose advises)
  and ``hole_size=0`` (no hole filling);
- ``div_rescale``'s quantiles are taken by ``np.quantile`` in the reference and ``torch.quantile``
  here: the step fields agree to 1e-5, and the Euler integration is compared on the *reference's*
  step field so that it is checked exactly.

omnipose is not in the project's lock, so these tests skip where it is absent (install it with
``pip install omnipose 'ncolor<2'`` to run them): omnipose 1.1.4 resolves against the pinned
versions but does not import with the ncolor that pip picks (2.3.0 dropped ``unique_nonzero``,
which omnipose imports), it brings 33 more distributions (dask, distributed, pandas, aicsimageio,
networkit, ...), and importing ``omnipose.core`` costs ~10 s of CPU (numba and TorchScript
compile at import).
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
import torch

from segedu.models.bottom_up import omnipose as om

from .cases import label_cases, scene

if importlib.util.find_spec("omnipose") is None:
    pytest.skip("omnipose is not installed (pip install omnipose 'ncolor<2'); the reference "
                "checks of segedu's Omnipose need it", allow_module_level=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # ImportError too: omnipose 1.1.4 with ncolor >= 2 is installed but cannot be imported
    core = pytest.importorskip("omnipose.core", exc_type=ImportError,
                               reason="omnipose is installed but does not import (with ncolor "
                                      ">= 2 it fails on `from ncolor import unique_nonzero`)")
    utils = pytest.importorskip("omnipose.utils", exc_type=ImportError)
    omni_loss = pytest.importorskip("omnipose.loss", exc_type=ImportError)
edt = pytest.importorskip("edt")
from skimage.filters import apply_hysteresis_threshold  # noqa: E402

CPU = torch.device("cpu")
CASES = label_cases()


def reference_fields(labels: np.ndarray):
    """omnipose's (distance field, raw gradient, boundary), float32 numpy."""
    _, _, boundary, field, gradient = core.masks_to_flows(labels, use_gpu=False, device=CPU)
    return field.numpy(), gradient.numpy(), boundary.astype(bool)


@pytest.mark.parametrize("name", list(CASES))
def test_field_flows_and_boundary_equal_omnipose(name):
    labels = CASES[name]
    ref_field, ref_gradient, ref_boundary = reference_fields(labels)
    lab = torch.from_numpy(labels)
    field = om.smooth_distance_field(lab)
    np.testing.assert_allclose(field.numpy(), ref_field, rtol=0, atol=2e-5)
    gradient = om.field_gradient(field, lab)
    np.testing.assert_allclose(gradient.numpy(), ref_gradient, rtol=0, atol=2e-5)
    # the unit flows: the reference's gradient normalised as its training data is
    ref_unit = utils.normalize_field(torch.from_numpy(ref_gradient), use_torch=True).numpy()
    unit, _ = om.masks_to_flows(lab)
    np.testing.assert_allclose(unit.numpy(), ref_unit, rtol=0, atol=2e-5)
    np.testing.assert_array_equal(om.boundary(lab).numpy(), ref_boundary)
    assert om.default_iterations(lab) == int(core.get_niter(edt.edt(labels)))


def test_weighted_mse_equals_omnipose():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 2, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g)
    weight = torch.rand(2, 1, 8, 8, generator=g).expand(-1, 2, -1, -1)
    expected = omni_loss.WeightedMSELoss()(pred, target, weight)
    torch.testing.assert_close(om.weighted_mse(pred, target, weight), expected)


def network_outputs(noise: float, seed: int = 0):
    """Flows, distance and boundary logits as a trained network would give them: the true maps
    of :func:`cases.scene` plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = torch.from_numpy(scene())
    unit, field = om.masks_to_flows(labels)
    flows = 5 * unit.numpy() + noise * rng.standard_normal((2, 48, 64)).astype(np.float32)
    distance = torch.where(labels > 0, field, om.BACKGROUND_DISTANCE).numpy()
    distance = distance + noise * rng.standard_normal((48, 64)).astype(np.float32)
    boundary = om.boundary(labels).float().numpy() * 10 - 5
    return flows, distance, boundary


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_reconstruction_steps_equal_omnipose(noise):
    flows, distance, boundary = network_outputs(noise)
    # 1. hysteresis foreground
    ref_foreground = apply_hysteresis_threshold(distance, -1, 0)
    foreground = om.hysteresis_foreground(torch.from_numpy(distance))
    np.testing.assert_array_equal(foreground.numpy(), ref_foreground)
    # 2. divergence-rescaled step field
    ref_steps = core.div_rescale(flows, ref_foreground)
    steps = om.divergence_rescale(torch.from_numpy(flows), foreground)
    np.testing.assert_allclose(steps.numpy(), ref_steps, rtol=0, atol=1e-5)
    # 3. suppressed Euler integration (on the reference's steps: the same input)
    coords = np.array(np.nonzero(ref_foreground)).astype(np.int32)
    ref_positions, _, _ = core.follow_flows(ref_steps, distance, coords, niter=None, interp=True,
                                            use_gpu=False, device=CPU, omni=True, suppress=True)
    positions = om.follow_flows(torch.from_numpy(ref_steps), foreground)
    np.testing.assert_array_equal(positions.numpy(), ref_positions)
    # 4. clustering of the end points (rounding branch, boundary output given: nclasses = 4)
    ref_labels, _ = core.get_masks(ref_positions, boundary, distance, ref_foreground, coords,
                                   nclasses=4, cluster=False, diam_threshold=0)
    labels = om.cluster_end_points(torch.from_numpy(ref_positions), foreground,
                                   torch.from_numpy(boundary))
    np.testing.assert_array_equal(labels.numpy(), ref_labels)
    assert labels.max() == 4


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_compute_masks_equals_omnipose(noise):
    flows, distance, boundary = network_outputs(noise, seed=1)
    ref = core.compute_masks(flows, distance, bd=boundary, nclasses=4, flow_threshold=0,
                             diam_threshold=0, hole_size=0, use_gpu=False, device=CPU)[0]
    ours = om.compute_masks(torch.from_numpy(flows), torch.from_numpy(distance),
                            torch.from_numpy(boundary))
    np.testing.assert_array_equal(ours.numpy(), ref)  # same ids: both renumber by first sight
    assert ours.max() == 4


def test_a_synthetic_cell_image_equals_omnipose():
    """A 128x128 image of the course's synthetic nuclei (34 of them, many touching): the field,
    flows and boundary, and the masks from those ideal outputs, as omnipose's."""
    from segedu.data.synthetic_cells import SyntheticCells

    labels = SyntheticCells(size=128, length=1, seed=0)[0][1]["instances"]
    ref_field, ref_gradient, ref_boundary = reference_fields(labels.numpy())
    field = om.smooth_distance_field(labels)
    np.testing.assert_allclose(field.numpy(), ref_field, rtol=0, atol=2e-5)
    np.testing.assert_allclose(om.field_gradient(field, labels).numpy(), ref_gradient, rtol=0,
                               atol=2e-5)
    np.testing.assert_array_equal(om.boundary(labels).numpy(), ref_boundary)
    unit, _ = om.masks_to_flows(labels)
    flows = (5 * unit).numpy()
    distance = torch.where(labels > 0, field, om.BACKGROUND_DISTANCE).numpy()
    boundary = om.boundary(labels).float().numpy() * 10 - 5
    ref = core.compute_masks(flows, distance, bd=boundary, nclasses=4, flow_threshold=0,
                             diam_threshold=0, hole_size=0, use_gpu=False, device=CPU)[0]
    ours = om.compute_masks(torch.from_numpy(flows), torch.from_numpy(distance),
                            torch.from_numpy(boundary))
    np.testing.assert_array_equal(ours.numpy(), ref)
    assert int(ours.max()) == int(labels.max()) == 34
