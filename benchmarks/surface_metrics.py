"""Speed of segedu's surface metrics against MONAI (and Boundary IoU against its authors' OpenCV
code), on the same masks in one run.

    python benchmarks/surface_metrics.py               # CPU, one thread

* ``hausdorff_distance`` (max and ``percentile=95``), ``average_symmetric_surface_distance`` and
  ``normalized_surface_dice`` against ``monai.metrics.compute_hausdorff_distance``,
  ``compute_average_surface_distance(symmetric=True)`` and ``compute_surface_dice``, on a batch
  of 2-D masks and on a batch of anisotropic 3-D volumes (spacing 2.5 x 0.8 x 0.8): a true
  ellipse or ellipsoid and a prediction shifted, grown and with a small false-positive speck.
* ``boundary_iou`` against the authors' code (github.com/bowenc0221/boundary-iou-api,
  ``boundary_utils.py``), transcribed with OpenCV as in ``tests/metrics/test_surface.py``, with
  OpenCV held to the same number of threads. segedu's ``boundary_iou`` erodes the whole batch on
  rows packed 64 pixels to a word (OpenCV is no dependency of the library); the readable
  per-pair version that the chapter explains (``boundary_iou_readable``, SciPy's minimum filter)
  is timed against the same reference beside it.

The ratio is segedu's time over the reference's: below 1 means segedu is faster. Both results are
compared too (``rtol=1e-6``, MONAI returns float32). The table is printed and written to
``benchmarks/results/surface_metrics.md``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "surface_metrics.md"


def best_time(fn, repeats: int) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls of ``fn`` (after one warm-up), and its result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def ellipsoid(shape: tuple[int, ...], center, radii) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float64)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii, strict=True)) <= 1


def case(shape: tuple[int, ...], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` true ellipsoids of random centre and radii, and predictions: each shifted by up to
    2 pixels per axis, a pixel larger, with a 2-pixel false-positive speck in a corner."""
    rng = np.random.default_rng(seed)
    target, pred = np.zeros((n, *shape), bool), np.zeros((n, *shape), bool)
    for i in range(n):
        center = [s / 2 + rng.uniform(-s / 8, s / 8) for s in shape]
        radii = [rng.uniform(s / 6, s / 3) for s in shape]
        target[i] = ellipsoid(shape, center, radii)
        shifted = [c + rng.integers(-2, 3) for c in center]
        pred[i] = ellipsoid(shape, shifted, [r + 1 for r in radii])
        pred[i][(slice(2, 4),) * len(shape)] = True
    return pred, target


def monai_call(fn, pred: np.ndarray, target: np.ndarray, **kwargs) -> np.ndarray:
    """A MONAI metric from the same numpy masks (the (B, 1, ...) tensors are built in the call,
    as segedu's call converts its input too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, t = torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None]
        return fn(p, t, include_background=True, **kwargs)[:, 0].double().numpy()


def authors_boundary_iou(pred: np.ndarray, target: np.ndarray, ratio: float) -> np.ndarray:
    """The authors' Boundary IoU, one image at a time, with OpenCV (see the module docstring)."""
    import cv2

    cv2.setNumThreads(torch.get_num_threads())  # the same threads as segedu gets
    out = []
    for dt, gt in zip(pred, target, strict=True):
        h, w = gt.shape
        d = max(1, int(round(ratio * np.sqrt(h**2 + w**2))))
        bands = []
        for mask in (gt.astype(np.uint8), dt.astype(np.uint8)):
            padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
            eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)
            bands.append(mask - eroded[1 : h + 1, 1 : w + 1])
        out.append(((bands[0] * bands[1]) > 0).sum() / ((bands[0] + bands[1]) > 0).sum())
    return np.asarray(out)


def bench(repeats: int) -> list[dict]:
    from monai import metrics as mm

    from segedu import metrics
    from segedu.metrics.boundary_iou import boundary_iou_readable

    rows = []
    for label, shape, n, spacing in [
        ("2-D, 16 x 256 x 256", (256, 256), 16, (1.0, 1.0)),
        ("3-D, 4 x 48 x 160 x 160, spacing 2.5/0.8/0.8", (48, 160, 160), 4, (2.5, 0.8, 0.8)),
    ]:
        pred, target = case(shape, n)
        pairs = [
            ("hausdorff_distance (max)",
             partial(metrics.hausdorff_distance, pred, target, spacing=spacing),
             partial(monai_call, mm.compute_hausdorff_distance, pred, target, spacing=spacing),
             "compute_hausdorff_distance"),
            ("hausdorff_distance (HD95)",
             partial(metrics.hausdorff_distance, pred, target, spacing=spacing, percentile=95),
             partial(monai_call, mm.compute_hausdorff_distance, pred, target, spacing=spacing,
                     percentile=95),
             "compute_hausdorff_distance(percentile=95)"),
            ("average_symmetric_surface_distance",
             partial(metrics.average_symmetric_surface_distance, pred, target, spacing=spacing),
             partial(monai_call, mm.compute_average_surface_distance, pred, target,
                     spacing=spacing, symmetric=True),
             "compute_average_surface_distance(symmetric=True)"),
            ("normalized_surface_dice (tolerance 2)",
             partial(metrics.normalized_surface_dice, pred, target, tolerance=2.0,
                     spacing=spacing),
             partial(monai_call, mm.compute_surface_dice, pred, target, class_thresholds=[2.0],
                     spacing=spacing),
             "compute_surface_dice"),
        ]
        if len(shape) == 2:
            pairs.append(("boundary_iou", partial(metrics.boundary_iou, pred, target),
                          partial(authors_boundary_iou, pred, target, 0.02),
                          "authors' code (OpenCV)"))
            pairs.append(("boundary_iou_readable (the chapter's way, one pair at a time)",
                          partial(boundary_iou_readable, pred, target),
                          partial(authors_boundary_iou, pred, target, 0.02),
                          "authors' code (OpenCV)"))
        for name, ours_fn, ref_fn, ref_name in pairs:
            ours_t, ours = best_time(ours_fn, repeats)
            ref_t, ref = best_time(ref_fn, repeats)
            agree = np.allclose(np.asarray(ours), ref, rtol=1e-6, atol=1e-6, equal_nan=True)
            rows.append({"metric": f"{name}, {label}", "reference": ref_name, "ours": ours_t,
                         "ref": ref_t, "agree": agree})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls; the best is kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import monai

    rows = bench(args.repeats)
    lines = [
        "# Surface metrics: speed against MONAI",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/surface_metrics.py --threads "
        f"{args.threads}` on {platform.processor() or 'CPU'} (MONAI {monai.__version__}, "
        f"torch {torch.__version__}). Best of {args.repeats} runs; ratio = segedu / reference "
        "(below 1: segedu is faster). Masks: ellipses (ellipsoids) and shifted, grown predictions "
        "with a false-positive speck; MONAI with `distance_metric=\"euclidean\"`, "
        "`use_subvoxels=False`; OpenCV with as many threads as torch.",
        "",
        "| metric | reference | segedu (ms) | reference (ms) | ratio | same result |",
        "| --- | --- | ---: | ---: | ---: | :---: |",
    ]
    for r in rows:
        lines.append(f"| {r['metric']} | {r['reference']} | {1000 * r['ours']:.1f} | "
                     f"{1000 * r['ref']:.1f} | {r['ours'] / r['ref']:.2f} | "
                     f"{'yes' if r['agree'] else 'NO'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
