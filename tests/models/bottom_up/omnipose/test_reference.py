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

omnipose is not in the project's lock: omnipose 1.1.4 resolves against the pinned versions but
does not import with the ncolor that pip picks (2.3.0 dropped ``unique_nonzero``, which omnipose
imports), it brings 33 more distributions (dask, distributed, pandas, aicsimageio, networkit, ...),
and importing ``omnipose.core`` costs ~10 s of CPU (numba and TorchScript compile at import). So
its outputs on every case here are recorded once, in ``fixtures/omnipose.npz`` (the versions in
``fixtures/omnipose.json``), by ``make refs`` (``record_reference.py``, run in an environment that
has ``omnipose==1.1.4`` and ``ncolor<2``). Where omnipose cannot be imported (CI), segedu is
compared with those recorded outputs; where it can, with omnipose itself, and the recording with
omnipose too (a stale recording fails, saying to run ``make refs``). The reconstruction's inputs
are part of the recording, so both ways compare on the same inputs. The 128 x 128 image's field
and gradient are recorded at 256 of its pixels only (its masks and boundary whole).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from importlib.metadata import version

import numpy as np
import pytest
import torch
from skimage.filters import apply_hysteresis_threshold

from segedu.models.bottom_up import omnipose as om

from .cases import label_cases
from .record_reference import FIXTURE, NOISES, loss_inputs, network_outputs

RECORDED = dict(np.load(FIXTURE.with_suffix(".npz")))
INFO = json.loads(FIXTURE.with_suffix(".json").read_text(encoding="utf8"))


def _live_omnipose():
    """omnipose's core, utils and loss modules and edt, or None where they do not import."""
    if importlib.util.find_spec("omnipose") is None or importlib.util.find_spec("edt") is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # ImportError too: omnipose 1.1.4 with ncolor >= 2 installed does not import
            import edt
            from omnipose import core, utils
            from omnipose import loss as omni_loss
        except ImportError:
            return None
    return core, utils, omni_loss, edt


LIVE = _live_omnipose()
if LIVE:
    core, utils, omni_loss, edt = LIVE
    assert INFO["versions"]["omnipose"] == version("omnipose"), (
        f"fixtures/omnipose.json records omnipose {INFO['versions']['omnipose']}, "
        f"{version('omnipose')} is installed: run make refs")

CPU = torch.device("cpu")
CASES = label_cases()


def recorded(prefix: str) -> dict[str, np.ndarray]:
    """The recorded arrays ``<prefix>/<name>``, by name (the float16 inputs as float32)."""
    return {key[len(prefix) + 1:]: value.astype(np.float32) if value.dtype == np.float16 else value
            for key, value in RECORDED.items() if key.startswith(prefix + "/")}


def reference(prefix: str, live) -> dict[str, np.ndarray]:
    """omnipose's outputs: computed now by ``live()`` where omnipose imports, and then checked
    against the recording (which must be up to date); else the recording."""
    stored = recorded(prefix)
    if not LIVE:
        return stored
    now = live()
    assert now.keys() <= stored.keys(), (prefix, now.keys() - stored.keys())
    for name, value in now.items():
        expected = stored[name]
        if expected.shape != np.shape(value):  # the 128 x 128 image's field: 256 pixels kept
            value = sample(value, stored["samples"])
        np.testing.assert_allclose(value, expected, rtol=0, atol=1e-6,
                                   err_msg=f"{prefix}/{name}: run make refs")
    return now


def sample(array: np.ndarray, samples: np.ndarray) -> np.ndarray:
    rows, cols = samples.astype(np.int64)
    return array[..., rows, cols]


def live_fields(labels: np.ndarray):
    def compute() -> dict[str, np.ndarray]:
        _, _, boundary, field, gradient = core.masks_to_flows(labels, use_gpu=False, device=CPU)
        return {"field": field.numpy(), "gradient": gradient.numpy(),
                "boundary": boundary.astype(bool),
                "unit": utils.normalize_field(gradient, use_torch=True).numpy(),
                "niter": np.array(int(core.get_niter(edt.edt(labels))))}
    return compute


@pytest.mark.parametrize("name", list(CASES))
def test_field_flows_and_boundary_equal_omnipose(name):
    labels = CASES[name]
    ref = reference(f"fields/{name}", live_fields(labels))
    lab = torch.from_numpy(labels)
    field = om.smooth_distance_field(lab)
    np.testing.assert_allclose(field.numpy(), ref["field"], rtol=0, atol=2e-5)
    gradient = om.field_gradient(field, lab)
    np.testing.assert_allclose(gradient.numpy(), ref["gradient"], rtol=0, atol=2e-5)
    # the unit flows: the reference's gradient normalised as its training data is
    unit, _ = om.masks_to_flows(lab)
    np.testing.assert_allclose(unit.numpy(), ref["unit"], rtol=0, atol=2e-5)
    np.testing.assert_array_equal(om.boundary(lab).numpy(), ref["boundary"])
    assert om.default_iterations(lab) == int(ref["niter"])


def test_weighted_mse_equals_omnipose():
    pred, target, weight = loss_inputs()
    expected = torch.tensor(INFO["weighted_mse"])
    if LIVE:
        torch.testing.assert_close(omni_loss.WeightedMSELoss()(pred, target, weight), expected,
                                   msg="run make refs")
    torch.testing.assert_close(om.weighted_mse(pred, target, weight), expected)


def test_the_recorded_inputs_are_segedus_true_maps_plus_noise():
    # what record_reference.py stored is what it says: segedu's maps of cases.scene() plus noise
    # (to float16 rounding; a change to segedu's maps may move a value across a rounding step)
    for noise in NOISES:
        for prefix, seed in ((f"steps/{noise}", 0), (f"masks/{noise}", 1)):
            stored = recorded(prefix)
            for name, value in network_outputs(noise, seed).items():
                np.testing.assert_allclose(stored[name], value, rtol=2**-10, atol=2**-14)


@pytest.mark.parametrize("noise", NOISES)
def test_reconstruction_steps_equal_omnipose(noise):
    inputs = recorded(f"steps/{noise}")
    flows, distance, boundary = inputs["flows"], inputs["distance"], inputs["boundary"]
    # 1. hysteresis foreground (skimage's, in the lock: computed here in every run)
    ref_foreground = apply_hysteresis_threshold(distance, -1, 0)
    np.testing.assert_array_equal(ref_foreground, inputs["foreground"])
    foreground = om.hysteresis_foreground(torch.from_numpy(distance))
    np.testing.assert_array_equal(foreground.numpy(), ref_foreground)

    def live() -> dict[str, np.ndarray]:
        steps = core.div_rescale(flows, ref_foreground)
        coords = np.array(np.nonzero(ref_foreground)).astype(np.int32)
        positions, _, _ = core.follow_flows(steps, distance, coords, niter=None, interp=True,
                                            use_gpu=False, device=CPU, omni=True, suppress=True)
        labels, _ = core.get_masks(positions, boundary, distance, ref_foreground, coords,
                                   nclasses=4, cluster=False, diam_threshold=0)
        return {"steps": np.asarray(steps), "positions": np.asarray(positions),
                "labels": np.asarray(labels)}

    ref = reference(f"steps/{noise}", live)
    # 2. divergence-rescaled step field
    steps = om.divergence_rescale(torch.from_numpy(flows), foreground)
    np.testing.assert_allclose(steps.numpy(), ref["steps"], rtol=0, atol=1e-5)
    # 3. suppressed Euler integration (on the reference's steps: the same input)
    positions = om.follow_flows(torch.from_numpy(ref["steps"]), foreground)
    np.testing.assert_array_equal(positions.numpy(), ref["positions"])
    # 4. clustering of the end points (rounding branch, boundary output given: nclasses = 4)
    labels = om.cluster_end_points(torch.from_numpy(ref["positions"]), foreground,
                                   torch.from_numpy(boundary))
    np.testing.assert_array_equal(labels.numpy(), ref["labels"])
    assert labels.max() == 4


@pytest.mark.parametrize("noise", NOISES)
def test_compute_masks_equals_omnipose(noise):
    inputs = recorded(f"masks/{noise}")
    flows, distance, boundary = inputs["flows"], inputs["distance"], inputs["boundary"]

    def live() -> dict[str, np.ndarray]:
        return {"labels": core.compute_masks(
            flows, distance, bd=boundary, nclasses=4, flow_threshold=0, diam_threshold=0,
            hole_size=0, use_gpu=False, device=CPU)[0]}

    ref = reference(f"masks/{noise}", live)
    ours = om.compute_masks(torch.from_numpy(flows), torch.from_numpy(distance),
                            torch.from_numpy(boundary))
    np.testing.assert_array_equal(ours.numpy(), ref["labels"])  # same ids: both renumber
    assert ours.max() == 4


def test_a_synthetic_cell_image_equals_omnipose():
    """A 128x128 image of the course's synthetic nuclei (34 of them, many touching): the field,
    flows and boundary, and the masks from those ideal outputs, as omnipose's."""
    labels = torch.from_numpy(RECORDED["cells/labels"].astype(np.int64))
    field = om.smooth_distance_field(labels)
    unit, _ = om.masks_to_flows(labels)
    flows = (5 * unit).numpy()
    distance = torch.where(labels > 0, field, om.BACKGROUND_DISTANCE).numpy()
    boundary = om.boundary(labels).float().numpy() * 10 - 5

    def live() -> dict[str, np.ndarray]:
        out = live_fields(labels.numpy())()
        out["masks"] = core.compute_masks(flows, distance, bd=boundary, nclasses=4,
                                          flow_threshold=0, diam_threshold=0, hole_size=0,
                                          use_gpu=False, device=CPU)[0]
        return out

    ref = reference("cells", live)
    samples = RECORDED["cells/samples"]
    ours = {"field": field.numpy(), "gradient": om.field_gradient(field, labels).numpy(),
            "unit": unit.numpy()}
    for name, value in ours.items():
        expected = ref[name]
        got = value if value.shape == expected.shape else sample(value, samples)
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5, err_msg=name)
    np.testing.assert_array_equal(om.boundary(labels).numpy(), ref["boundary"])
    ours = om.compute_masks(torch.from_numpy(flows), torch.from_numpy(distance),
                            torch.from_numpy(boundary))
    np.testing.assert_array_equal(ours.numpy(), ref["masks"])
    assert int(ours.max()) == int(labels.max()) == 34
