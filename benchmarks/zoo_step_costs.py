"""What a training step of a zoo detection or instance model costs: CPU seconds and operators.

    python benchmarks/zoo_step_costs.py [names ...] [--batch 32] [--steps 5]

For each zoo entry trained by :func:`segedu.zoo.instances.detection_training` (the instance and
detection recipes: its own losses, AdamW, gradient clipping left out), on batches of held-out
scenes drawn beforehand:

- **CPU seconds per step** (``time.process_time``, one thread): forward, losses, backward and
  AdamW, the mean of ``--steps`` steps after one warm-up step; the scenes' drawing is not in it
  (2.1 ms of CPU a scene here, and a run keeps its scenes after their first draw).
- **ATen operators per step**, counted with a ``TorchDispatchMode``: forward with the losses, and
  backward, at ``--batch`` and at 8 (their difference over the images is the cost of one more
  image: these losses loop over the images). On a GPU each operator is about one kernel launch,
  and small models at batch 32 are bound by the launches, not by their arithmetic; the operators
  of the model's ``targets`` (SOLOv2 encodes its targets there, on the CPU) are counted apart.

Results: ``benchmarks/results/zoo_step_costs.md`` (appended, one table a run).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from segedu.models import get_model
from segedu.zoo import ZOO, Task
from segedu.zoo.instances import detection_training, instance_scenes
from segedu.zoo.train import config_for

RESULTS = Path(__file__).parent / "results" / "zoo_step_costs.md"
DEFAULT = ("retinanet_resnet50_fpn", "ssd300_vgg16", "solov2")


class _Counter(TorchDispatchMode):
    """Counts the ATen operators dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _setup(name: str, batch: int):
    """The entry's model (seed 0) and its recipe's training (loss, optimiser) on the CPU, and
    batches of ``batch`` held-out scenes drawn beforehand."""
    entry = ZOO[name]
    torch.manual_seed(0)
    model = get_model(entry.model, **entry.kwargs)
    masks = entry.task is Task.INSTANCES
    scenes = instance_scenes(seed=1, length=3 * batch, masks=masks)
    config = config_for(name, batch=batch, out=Path("/tmp/zoo_step_costs"))
    training = detection_training(model, config, scenes, torch.device("cpu"), 1000)
    batches = [next(training.batches) for _ in range(3)]  # the loader's, one epoch
    return model, training, batches


def _step(training, batch) -> None:
    loss, _ = training.loss(batch)
    training.optimizer.zero_grad()
    loss.backward()
    training.optimizer.step()


def cpu_seconds(name: str, batch: int, steps: int) -> float:
    """CPU seconds of a step, the mean of ``steps`` after one warm-up step."""
    _, training, batches = _setup(name, batch)
    _step(training, batches[0])
    start = time.process_time()
    for k in range(steps):
        _step(training, batches[1 + k % 2])
    return (time.process_time() - start) / steps


def operators(name: str, batch: int) -> dict[str, int]:
    """ATen operators of one step: ``forward`` (with the losses; ``targets`` of them in the
    model's ``targets``) and ``backward``."""
    model, training, batches = _setup(name, batch)
    counter, in_targets = _Counter(), [0]
    encode = getattr(model, "targets", None)
    if encode is not None:
        def counted(targets):
            before = counter.count
            out = encode(targets)
            in_targets[0] += counter.count - before
            return out
        model.targets = counted
    with counter:
        loss, _ = training.loss(batches[0])
        forward = counter.count
        loss.backward()
    return {"forward": forward, "targets": in_targets[0], "backward": counter.count - forward}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(DEFAULT))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.names:
        seconds = cpu_seconds(name, args.batch, args.steps)
        big, small = operators(name, args.batch), operators(name, 8)
        per_image = (sum(big.values()) - sum(small.values())) / (args.batch - 8)
        rows.append(f"| {name} | {seconds:.3f} | {big['forward']:,} | {big['targets']:,} | "
                    f"{big['backward']:,} | {per_image:.0f} |")
        print(rows[-1], flush=True)
    header = [f"## {datetime.date.today()}, {platform.machine()} "
              f"({platform.processor() or 'CPU'}), torch {torch.__version__}, one thread, "
              f"batch {args.batch}", "",
              "| model | CPU s a step | operators: forward + losses | of which in `targets` | "
              "backward | operators per added image |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write("\n".join(["", *header, *rows, ""]))


if __name__ == "__main__":
    main()
