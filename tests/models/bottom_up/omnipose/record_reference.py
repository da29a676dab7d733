"""Record omnipose's outputs on the cases of test_reference.py into fixtures/, for the runs that
do not have omnipose (CI: it is not in the lock).

Run by ``make refs`` (scripts/record_refs.py installs omnipose into a separate environment and runs
this file there); by hand, in a Python that has omnipose and can import segedu::

    python tests/models/bottom_up/omnipose/record_reference.py

Writes ``fixtures/omnipose.npz`` (the arrays) and ``fixtures/omnipose.json`` (the versions of
omnipose and of what it computed with, and the scalars). What is recorded, for each case:

- ``fields/<case>/...``: for each label image of ``cases.label_cases()``, omnipose's distance field,
  raw gradient, boundary, unit flows and its number of Euler iterations (``get_niter``);
- ``cells/...``: a 128 x 128 synthetic nuclei image (its labels are stored too): the boundary, the
  field, gradient and unit flows at 256 fixed pixels (the whole arrays are 330 KB uncompressed),
  and the masks that ``compute_masks`` finds from segedu's ideal outputs for it;
- ``steps/<noise>/...``: the reconstruction's inputs (flows, distance, boundary logits: segedu's
  true maps of ``cases.scene()`` plus Gaussian noise, rounded to float16, stored as float16 and
  computed on as float32) and omnipose's hysteresis foreground, divergence-rescaled steps, Euler
  end points and clustered labels;
- ``masks/<noise>/...``: the inputs (another noise seed) and ``compute_masks``' labels;
- the weighted MSE loss of ``omnipose.loss.WeightedMSELoss`` on seeded random tensors (JSON).
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
if __package__:
    from .cases import label_cases, scene
else:  # run as a script (make refs), from an environment where segedu may not be installed
    sys.path.insert(0, str(ROOT))
    from cases import label_cases, scene
FIXTURE = HERE / "fixtures" / "omnipose"
CPU = torch.device("cpu")
NOISES = (0.0, 0.3)
# the pixels of the 128 x 128 image whose field and gradient are recorded
CELL_SAMPLES, CELL_SEED = 256, 0


def network_outputs(noise: float, seed: int) -> dict[str, np.ndarray]:
    """Flows ``(2, 48, 64)``, distance and boundary logits ``(48, 64)`` as a trained network would
    give them: segedu's true maps of :func:`cases.scene` plus Gaussian noise, rounded to float16
    (then stored in half the bytes, exactly), as float32."""
    from segedu.models.bottom_up import omnipose as om

    rng = np.random.default_rng(seed)
    labels = torch.from_numpy(scene())
    unit, field = om.masks_to_flows(labels)
    flows = 5 * unit.numpy() + noise * rng.standard_normal((2, 48, 64)).astype(np.float32)
    distance = torch.where(labels > 0, field, om.BACKGROUND_DISTANCE).numpy()
    distance = distance + noise * rng.standard_normal((48, 64)).astype(np.float32)
    boundary = om.boundary(labels).float().numpy() * 10 - 5
    return {name: array.astype(np.float16).astype(np.float32)
            for name, array in (("flows", flows), ("distance", distance), ("boundary", boundary))}


def cell_labels() -> np.ndarray:
    from segedu.data.synthetic_cells import SyntheticCells

    return SyntheticCells(size=128, length=1, seed=0)[0][1]["instances"].numpy()


def cell_samples(shape: tuple[int, int]) -> np.ndarray:
    """``(2, CELL_SAMPLES)`` fixed pixel coordinates (rows, columns) of an image of ``shape``."""
    rng = np.random.default_rng(CELL_SEED)
    flat = np.sort(rng.choice(shape[0] * shape[1], CELL_SAMPLES, replace=False))
    return np.array(np.unravel_index(flat, shape))


def loss_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 2, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g)
    weight = torch.rand(2, 1, 8, 8, generator=g).expand(-1, 2, -1, -1)
    return pred, target, weight


def record() -> tuple[dict[str, np.ndarray], dict]:
    """Run omnipose on every case; returns the arrays and the JSON part."""
    from skimage.filters import apply_hysteresis_threshold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import edt
        from omnipose import core, utils
        from omnipose import loss as omni_loss

    from segedu.models.bottom_up import omnipose as om

    arrays: dict[str, np.ndarray] = {}

    def fields(prefix: str, labels: np.ndarray) -> None:
        _, _, boundary, field, gradient = core.masks_to_flows(labels, use_gpu=False, device=CPU)
        arrays[f"{prefix}/field"] = field.numpy().astype(np.float32)
        arrays[f"{prefix}/gradient"] = gradient.numpy().astype(np.float32)
        arrays[f"{prefix}/boundary"] = boundary.astype(bool)
        arrays[f"{prefix}/unit"] = utils.normalize_field(gradient, use_torch=True).numpy()
        arrays[f"{prefix}/niter"] = np.array(int(core.get_niter(edt.edt(labels))))

    for name, labels in label_cases().items():
        fields(f"fields/{name}", labels)

    labels = cell_labels()
    fields("cells", labels)
    rows, cols = cell_samples(labels.shape)
    arrays["cells/labels"] = labels.astype(np.int16)
    arrays["cells/samples"] = np.stack([rows, cols]).astype(np.int16)
    arrays["cells/field"] = arrays["cells/field"][rows, cols]
    arrays["cells/gradient"] = arrays["cells/gradient"][:, rows, cols]
    arrays["cells/unit"] = arrays["cells/unit"][:, rows, cols]
    lab = torch.from_numpy(labels)
    unit, field = om.masks_to_flows(lab)
    distance = torch.where(lab > 0, field, om.BACKGROUND_DISTANCE).numpy()
    arrays["cells/masks"] = core.compute_masks(
        (5 * unit).numpy(), distance, bd=om.boundary(lab).float().numpy() * 10 - 5, nclasses=4,
        flow_threshold=0, diam_threshold=0, hole_size=0, use_gpu=False, device=CPU,
    )[0].astype(np.int16)

    for noise in NOISES:
        inputs = network_outputs(noise, seed=0)
        prefix = f"steps/{noise}"
        arrays.update({f"{prefix}/{k}": v.astype(np.float16) for k, v in inputs.items()})
        foreground = apply_hysteresis_threshold(inputs["distance"], -1, 0)
        steps = core.div_rescale(inputs["flows"], foreground)
        coords = np.array(np.nonzero(foreground)).astype(np.int32)
        positions, _, _ = core.follow_flows(steps, inputs["distance"], coords, niter=None,
                                            interp=True, use_gpu=False, device=CPU, omni=True,
                                            suppress=True)
        clustered, _ = core.get_masks(positions, inputs["boundary"], inputs["distance"],
                                      foreground, coords, nclasses=4, cluster=False,
                                      diam_threshold=0)
        arrays[f"{prefix}/foreground"] = foreground
        arrays[f"{prefix}/steps"] = np.asarray(steps, np.float32)
        arrays[f"{prefix}/positions"] = np.asarray(positions)
        arrays[f"{prefix}/labels"] = np.asarray(clustered).astype(np.int16)

        inputs = network_outputs(noise, seed=1)
        prefix = f"masks/{noise}"
        arrays.update({f"{prefix}/{k}": v.astype(np.float16) for k, v in inputs.items()})
        arrays[f"{prefix}/labels"] = core.compute_masks(
            inputs["flows"], inputs["distance"], bd=inputs["boundary"], nclasses=4,
            flow_threshold=0, diam_threshold=0, hole_size=0, use_gpu=False, device=CPU,
        )[0].astype(np.int16)

    loss = float(omni_loss.WeightedMSELoss()(*loss_inputs()))
    info = {
        "reference": "omnipose",
        "versions": {name: version(name) for name in ("omnipose", "ncolor", "edt", "torch",
                                                       "numpy", "scikit-image")},
        "recorded_by": "tests/models/bottom_up/omnipose/record_reference.py (make refs)",
        "weighted_mse": loss,
        "arrays": {key: f"{a.dtype} {list(a.shape)}" for key, a in sorted(arrays.items())},
    }
    return arrays, info


def main() -> int:
    arrays, info = record()
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE.with_suffix(".npz"), **arrays)
    FIXTURE.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf8")
    size = FIXTURE.with_suffix(".npz").stat().st_size
    print(f"omnipose {info['versions']['omnipose']}: {len(arrays)} arrays, "
          f"{FIXTURE.with_suffix('.npz').relative_to(ROOT)} {size / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
