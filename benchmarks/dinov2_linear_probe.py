"""mIoU of DINOv2's linear segmentation probe on the zoo's held-out scenes, per backbone.

    python benchmarks/dinov2_linear_probe.py                 # the recorded run (one thread)
    python benchmarks/dinov2_linear_probe.py --scenes 32 --test-scenes 16 --steps 50   # a trial

Each row is :func:`segedu.zoo.linear_probe.probe_scenes`: a :class:`LinearProbe` (BatchNorm and a
1 x 1 convolution on the frozen patch tokens of the last ``layers`` blocks, bilinear up-sampling)
trained on ``--scenes`` scenes of seed 0 for ``--steps`` AdamW steps of 16, scored on the first
``--test-scenes`` held-out scenes of seed 1 (128 x 128, padded to 140 for patch 14; DINO's
``dino_vit_tiny``, patch 8, reads them as they are, a 16 x 16 grid). The backbones are at **random
initialisation** (seed 0): segedu has no pretrained DINOv2 offline (and no trained
``dino_vit_tiny``), so the table is a random-feature baseline, not DINOv2's features. The table is
printed and written to ``benchmarks/results/dinov2_linear_probe.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import torch

from segedu.data import SyntheticScenes
from segedu.models import get_model
from segedu.zoo.linear_probe import probe_scenes

RESULTS = Path(__file__).parent / "results" / "dinov2_linear_probe.md"
# (registered backbone, layers concatenated)
RUNS = [("dinov2_vits14", 1), ("dino_vit_tiny", 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--test-scenes", type=int, default=500)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    rows = []
    for name, layers in RUNS:
        torch.manual_seed(0)
        backbone = get_model(name)  # random initialisation
        start = time.perf_counter()
        _, score = probe_scenes(backbone, scenes=args.scenes, test_scenes=args.test_scenes,
                                steps=args.steps, layers=layers)
        minutes = (time.perf_counter() - start) / 60
        ious = " | ".join(f"{score[c]:.3f}" for c in SyntheticScenes.classes)
        rows.append(f"| `{name}` (random init) | {layers} | {ious} | **{score['miou']:.3f}** | "
                    f"{minutes:.1f} |")
        print(rows[-1], flush=True)
    command = "python benchmarks/dinov2_linear_probe.py" + (
        "" if (args.scenes, args.test_scenes, args.steps) == (500, 500, 1000) else
        f" --scenes {args.scenes} --test-scenes {args.test_scenes} --steps {args.steps}")
    text = "\n".join([
        "# DINOv2 linear segmentation probe on synthetic scenes (random-feature baseline)", "",
        f"Measured {datetime.datetime.now().isoformat(timespec='minutes')} with `{command}`.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU use; Python "
        f"{platform.python_version()}, torch {torch.__version__}, {args.threads} torch "
        f"thread(s); load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        "",
        f"The backbones are at random initialisation (torch seed 0), NOT DINOv2's trained "
        f"weights, which segedu does not have offline. Probe: BatchNorm + 1 x 1 convolution on "
        f"the frozen, normalised patch tokens of the last `layers` blocks, bilinear up-sampling; "
        f"{args.steps} AdamW steps (lr 1e-3, cosine) of 16 scenes from {args.scenes} training "
        f"scenes (seed 0), features cached; IoU on the first {args.test_scenes} held-out scenes "
        f"(seed 1), 128 x 128 pixels, padded to 140 x 140 for patch 14 (a 10 x 10 grid; "
        f"`dino_vit_tiny`, DINO's tiny ViT of patch 8, reads 16 x 16 patches). Minutes: "
        f"wall-clock, on the shared machine at that load, for the whole row (drawing the "
        f"scenes, features, training, scoring).", "",
        "| backbone | layers | " + " | ".join(SyntheticScenes.classes) + " | mIoU | minutes |",
        "| --- | ---: |" + " ---: |" * (len(SyntheticScenes.classes) + 2),
        *rows, ""])
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
