"""How fast lab 04's online branch reads Oxford-IIIT Pet: the basis of its time estimate on Colab.

    python benchmarks/pets_loading_speed.py [--images 64] [--repeats 3]

No GPU and no internet here, so the Pet archives cannot be read: the script writes ``--images``
photographs in torchvision's exact layout (``oxford-iiit-pet/images/*.jpg``,
``annotations/trimaps/*.png``, ``annotations/trainval.txt``) at 500 x 375 px, the typical size of
the data set's photographs, as smooth colour fields with mild noise (JPEG quality 90), with a pet
and border trimap. It then times, one process, best of ``--repeats`` passes over all images:

* the reference: torchvision's ``OxfordIIITPet(target_types="segmentation")`` alone, which decodes
  the JPEG and opens the trimap (``PIL`` image and lazy PNG);
* segedu's ``pets_segmentation(train=True, size=160, normalize=True)``, the lab's training items:
  the same reading plus the joint random crop and flip, the resize to 160 px, the trimap mapping
  and ImageNet normalisation.

The ratio is segedu's time over the reference's (the price of the joint transforms), and the
milliseconds per image give the estimate written under the table: an epoch of 3,680 training
images on Colab's two CPU cores (two DataLoader workers), assuming a Colab core as fast as one
here, a guess stated as such. The table goes to ``benchmarks/results/pets_loading_speed.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "pets_loading_speed.md"
TRAINVAL = 3680  # images in Oxford-IIIT Pet's trainval split


def write_fake_pets(root: Path, count: int, seed: int = 0) -> None:
    """``count`` photographs and trimaps in torchvision's layout under ``root/oxford-iiit-pet``."""
    rng = np.random.default_rng(seed)
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    rows, cols = np.mgrid[0:375, 0:500]
    lines = []
    for k in range(count):
        colour = rng.uniform(40, 215, size=3)
        field = colour + 30 * np.sin(rows[..., None] / rng.uniform(20, 60) + cols[..., None] / 45)
        photo = np.clip(field + rng.normal(0, 6, size=(375, 500, 3)), 0, 255).astype(np.uint8)
        name = f"Abyssinian_{k + 1}"
        Image.fromarray(photo).save(base / "images" / f"{name}.jpg", quality=90)
        trimap = np.full((375, 500), 2, np.uint8)
        top, left = rng.integers(20, 120), rng.integers(20, 200)
        trimap[top - 4:top + 204, left - 4:left + 254] = 3
        trimap[top:top + 200, left:left + 250] = 1
        Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} 1 1 1")
    (base / "annotations" / "trainval.txt").write_text("\n".join(lines) + "\n")
    (base / "annotations" / "test.txt").write_text(lines[0] + "\n")


def best_pass(dataset, repeats: int) -> float:
    """Shortest time of one pass reading every item (after a warm-up pass), in seconds."""
    for i in range(len(dataset)):
        dataset[i]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(dataset)):
            item = dataset[i]
            if isinstance(item[1], Image.Image):
                item[1].load()  # the reference's PNG is lazy: read it, as a transform would
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    from torchvision.datasets import OxfordIIITPet

    from segedu.data.online import pets_segmentation

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_fake_pets(root, args.images)
        reference = OxfordIIITPet(root, target_types="segmentation")
        ours = pets_segmentation(root, train=True, size=160, normalize=True)
        torch.manual_seed(0)
        t_ref = best_pass(reference, args.repeats) / args.images
        t_ours = best_pass(ours, args.repeats) / args.images
    epoch = TRAINVAL * t_ours / 2  # two workers
    table = [
        "# Oxford-IIIT Pet loading speed (lab 04's online branch)",
        "",
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, one thread, load average {load:.2f} at "
        f"the start; {args.images} fake 500 x 375 photographs in torchvision's layout, best of "
        f"{args.repeats} passes.",
        "",
        "| per image | torchvision OxfordIIITPet (reference) | segedu pets_segmentation (train, "
        "160 px) | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| milliseconds | {1000 * t_ref:.2f} | {1000 * t_ours:.2f} | {t_ours / t_ref:.2f} |",
        "",
        f"Estimate (not a measurement on Colab): an epoch of {TRAINVAL} training images with two "
        f"DataLoader workers takes about {TRAINVAL} x {1000 * t_ours:.1f} ms / 2 = {epoch:.0f} s "
        "of CPU time per epoch, if a Colab core is as fast as one here; the GPU part of a step is "
        "expected to be shorter, so loading bounds the epoch.",
        "",
    ]
    text = "\n".join(table)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
