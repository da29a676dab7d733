"""CPU time of a training step of the zoo's Mask R-CNN against the RoIs sampled per image.

    python benchmarks/roi_sampling.py [--batch 32] [--steps 3]

Mask R-CNN's heads learn from RoIs sampled among the RPN's proposals: ``box_batch_size_per_image``
per image (512 in the FPN paper and torchvision), at most a quarter of them positive. The box head
sees all of them and the mask head the positive ones, and each RoI is pooled by RoI-align, whose
backward pass on a CPU scatters every sampled point's gradient back into the feature maps, one
RoI and one channel at a time. On the zoo's 128 x 128 scenes (about five objects, 4,092 anchors)
that backward pass dominated a step; this script measures how much sampling fewer RoIs saves.

For each number of RoIs it times ``--steps`` training steps (after one warm-up) of the zoo entry's
model on ``--batch`` training scenes, one thread, in two states: from the random initialisation
(the RPN's proposals are random, few are positive) and from the shipped checkpoint (the proposals
are good, so up to a quarter of the sample is positive and the mask head sees them all). It records
the process's CPU seconds per step (the zoo's runs share the machine, so the wall time says
little) and, from PyTorch's profiler over one more step, the share of RoI-align's backward. The
same seed precedes each state, so every setting draws the same batch. Results:
``benchmarks/results/roi_sampling.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from segedu.models import get_model
from segedu.zoo import ZOO
from segedu.zoo.float16 import load_float32
from segedu.zoo.instances import instance_scenes

RESULTS = Path(__file__).parent / "results" / "roi_sampling.md"
NAME = "maskrcnn_resnet_fpn"
SAMPLES = (512, 256, 128)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(samples: int, start: str, batch: int, steps: int) -> tuple[float, float]:
    """CPU seconds per step and RoI-align backward's share of one profiled step."""
    torch.manual_seed(0)
    kwargs = {**ZOO[NAME].kwargs, "box_batch_size_per_image": samples}
    model = get_model(NAME, **kwargs).train()
    if start == "shipped checkpoint":
        model.load_state_dict(load_float32(ZOO[NAME].checkpoint))
    scenes = instance_scenes(seed=0, length=batch)
    images, targets = map(list, zip(*(scenes[i] for i in range(batch)), strict=True))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    before = cpu_seconds()
    for _ in range(steps):
        step()
    per_step = (cpu_seconds() - before) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    roi_backward = sum(e.self_cpu_time_total for e in events if "roi_align_backward" in e.key)
    return per_step, roi_backward / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for start in ("random initialisation", "shipped checkpoint"):
        baseline = None
        for samples in SAMPLES:
            seconds, share = measure(samples, start, args.batch, args.steps)
            baseline = baseline or seconds
            rows.append(f"| {start} | {samples} | {seconds:.2f} | {seconds / baseline:.2f} "
                        f"| {100 * share:.0f} % |")
            print(rows[-1], flush=True)
    allocator = os.environ.get("LD_PRELOAD", "") and (
        f"`LD_PRELOAD={os.environ['LD_PRELOAD']}` `MALLOC_CONF={os.environ.get('MALLOC_CONF')}`")
    text = (
        "# Mask R-CNN: CPU time of a training step against the RoIs sampled per image\n\n"
        f"Measured {datetime.date.today()} with `python benchmarks/roi_sampling.py --batch "
        f"{args.batch} --steps {args.steps}` on {platform.machine()} CPU, one thread, "
        f"{allocator or 'glibc malloc'}; load average {os.getloadavg()[0]:.1f} at the end (other "
        "work on the machine slows the wall time, hence CPU seconds). A step: forward, the model's "
        f"losses, backward, AdamW, on {args.batch} training scenes of 128x128, after one warm-up "
        "step. The ratio is the CPU time over that of 512 RoIs (the FPN paper's) from the same "
        "start; the share is that of `torchvision::_roi_align_backward` in the self CPU time of "
        "one more step under PyTorch's profiler.\n\n"
        "| start | RoIs per image | CPU s/step | ratio | RoI-align backward |\n"
        "| --- | ---: | ---: | ---: | ---: |\n" + "\n".join(rows) + "\n")
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
