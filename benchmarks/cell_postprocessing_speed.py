"""Speed of segedu's StarDist and Cellpose targets and post-processing against the references.

    python benchmarks/cell_postprocessing_speed.py [--size 128] [--repeats 9]

On the same synthetic cell images (``SyntheticCells``, one image of ``--size`` pixels), each
pair below computes the same thing (the tests prove the outputs equal):

- **star distances** (32 rays): ``segedu.models.bottom_up.stardist.star_distances`` (numpy; the
  fast path, and ``method="readable"``, all rays of all pixels marched together) against
  ``stardist.geometry.star_dist(mode="cpp")`` (C++);
- **polygon NMS**: ``segedu.models.bottom_up.stardist.polygon_nms`` (the fast path, bounds then
  exact overlaps of the undecided pairs, and ``method="readable"``, exact polygon intersections of
  every pair in numpy) against ``stardist.nms.non_maximum_suppression_inds`` (C++, Clipper), on
  the candidates of noisy true distances (every foreground pixel with probability > 0.5);
- **Cellpose flows**: ``segedu.models.bottom_up.cellpose.masks_to_flows`` against
  ``cellpose.dynamics.masks_to_flows_gpu`` on the CPU (both torch);
- **Cellpose masks from flows**: ``segedu.models.bottom_up.cellpose.compute_masks`` against
  ``cellpose.dynamics.compute_masks`` (flow following, clustering, flow-error check), from the true
  flows.

The two implementations of a pair alternate ``--repeats`` times after one warm-up; each time is
the median of its runs, wall clock and the process's CPU time (``time.process_time``: what the
process itself computed, which other jobs on a shared machine disturb far less than the wall
clock), and a ratio is segedu's median over the reference's (below 1: segedu is faster). The
results are appended to ``benchmarks/results/cell_postprocessing_speed.md``, with the load average
at the start and at the end (other jobs on the machine slow both sides; the alternation shares it).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "cell_postprocessing_speed.md"


def median_alternating(ours, theirs, repeats: int) -> tuple[float, float, float, float]:
    """Median wall-clock and CPU times ``(ours, theirs, ours_cpu, theirs_cpu)`` of two functions
    over ``repeats`` alternating runs, after a warm-up."""
    ours(), theirs()
    wall, cpu = ([], []), ([], [])
    for _ in range(repeats):
        for k, run in enumerate((ours, theirs)):
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[k].append(time.perf_counter() - start)
            cpu[k].append(time.process_time() - start_cpu)
    return (float(np.median(wall[0])), float(np.median(wall[1])), float(np.median(cpu[0])),
            float(np.median(cpu[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    from cellpose import dynamics
    from stardist.geometry import star_dist
    from stardist.nms import non_maximum_suppression_inds

    from segedu.data import SyntheticCells
    from segedu.models.bottom_up.cellpose import FLOW_SCALE, compute_masks, masks_to_flows
    from segedu.models.bottom_up.stardist import object_probability, polygon_nms, star_distances

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    _, target = SyntheticCells(size=args.size, length=1, seed=0)[0]
    labels = target["instances"].as_subclass(torch.Tensor)
    array = labels.numpy().astype(np.uint16)
    rows = []

    # 1. star distances
    for method in ("fast", "readable"):
        times = median_alternating(lambda method=method: star_distances(labels, 32, method=method),
                                   lambda: star_dist(array, 32, mode="cpp"), args.repeats)
        rows.append((f"star distances (32 rays), {method}", *times))

    # 2. polygon NMS on noisy candidates
    rng = np.random.default_rng(0)
    prob = object_probability(labels).numpy()
    dist = star_distances(labels, 32).numpy().transpose(1, 2, 0)  # (H, W, R)
    cand_rows, cand_cols = np.nonzero(prob > 0.5)
    points = np.stack([cand_rows, cand_cols], 1)
    noise = rng.uniform(0.9, 1.1, (len(points), 32))
    rays = np.maximum(dist[cand_rows, cand_cols] * noise, 1e-3).astype(np.float32)
    scores = (prob[cand_rows, cand_cols] + rng.uniform(0, 1e-3, len(points))).astype(np.float32)
    order = np.argsort(scores)[::-1]  # the reference wants the candidates sorted by score
    for method in ("fast", "readable"):
        times = median_alternating(
            lambda method=method: polygon_nms(rays, points, scores, 0.4, method=method),
            lambda: non_maximum_suppression_inds(rays[order], points[order], scores[order],
                                                 thresh=0.4, verbose=0),
            args.repeats)
        rows.append((f"polygon NMS ({len(points)} candidates), {method}", *times))

    # 3. flows
    consecutive = torch.from_numpy(array.astype(np.int64))
    times = median_alternating(lambda: masks_to_flows(consecutive),
                               lambda: dynamics.masks_to_flows_gpu(array.astype(np.int32),
                                                                   device=torch.device("cpu")),
                               args.repeats)
    rows.append(("Cellpose flows", *times))

    # 4. masks from the true flows (network output format: 5 x unit flows, cell probability logits)
    flows = masks_to_flows(consecutive) * FLOW_SCALE
    cellprob = torch.where(consecutive > 0, 5.0, -5.0)
    times = median_alternating(
        lambda: compute_masks(flows, cellprob),
        lambda: dynamics.compute_masks(flows.numpy(), cellprob.numpy(), min_size=15,
                                       device=torch.device("cpu")),
        args.repeats)
    rows.append(("Cellpose masks from flows", *times))

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"\n## {datetime.date.today()}, {platform.machine()} CPU ({os.cpu_count()} cores), "
             f"{torch.get_num_threads()} thread(s), one {args.size}x{args.size} image with "
             f"{int(labels.max())} nuclei, median of {args.repeats}; load average "
             f"{load_start:.2f} at the start, {load_end:.2f} at the end\n",
             "| operation | segedu (ms) | reference (ms) | ratio | segedu CPU (ms) "
             "| reference CPU (ms) | CPU ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {ours * 1000:.1f} | {theirs * 1000:.1f} | {ours / theirs:.2f} "
              f"| {ours_cpu * 1000:.1f} | {theirs_cpu * 1000:.1f} | {ours_cpu / theirs_cpu:.2f} |"
              for name, ours, theirs, ours_cpu, theirs_cpu in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# StarDist and Cellpose targets and post-processing: segedu against "
                           "the references\n\nWritten by "
                           "`benchmarks/cell_postprocessing_speed.py`; "
                           "ratio = segedu / reference.\n")
    with RESULTS.open("a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
