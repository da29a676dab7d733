"""CPU time of a zoo training step under three memory allocators: glibc's, jemalloc's defaults, and
jemalloc that keeps the pages it frees.

    python benchmarks/cpu_allocator.py [--batch 16] [--steps 4]

A detection model's training step allocates and frees activations of tens of MB. glibc serves
any block above 32 MB (its largest ``mmap_threshold``) with a fresh ``mmap`` and gives it back
with ``munmap`` when freed, so every step faults its pages in again, each one zeroed by the
kernel: system time that does no training. jemalloc (Debian's ``libjemalloc2``, loaded with
``LD_PRELOAD``) keeps freed pages for a while (``dirty_decay_ms``, 10 s by default) and, with
``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1``, keeps them for the process's life: after
the first step the same pages serve every step.

Each (model, allocator) pair runs in its own process: one warm-up step, then ``--steps`` steps of
``--batch`` held-out scenes (forward, the model's losses, backward, AdamW), one thread. It records
the process's own user and system CPU seconds per step and its minor page faults per step: CPU
seconds, not the wall time, because the zoo's long runs share this machine's two cores and the wall
time of a loaded machine says little. It also hashes the weights after the steps: the allocator only
decides where tensors live (PyTorch aligns each CPU tensor itself), so the three must train the
same weights, bit for bit, and the script stops if they do not. Results:
``benchmarks/results/cpu_allocator.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "cpu_allocator.md"
MODELS = ("yolact", "maskrcnn_resnet_fpn")
JEMALLOC = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
            "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2",
            "/usr/lib/libjemalloc.so.2")
NO_DECAY = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def allocators() -> dict[str, dict[str, str]]:
    """The environments to compare: glibc, and jemalloc twice where the library is installed."""
    found = next((path for path in JEMALLOC if Path(path).is_file()), None)
    settings = {"glibc": {}}
    if found is None:
        print("jemalloc not found (Debian: apt-get install libjemalloc2): glibc only")
        return settings
    settings["jemalloc, defaults"] = {"LD_PRELOAD": found}
    settings[f"jemalloc, MALLOC_CONF={NO_DECAY}"] = {"LD_PRELOAD": found, "MALLOC_CONF": NO_DECAY}
    return settings


def child(name: str, batch: int, steps: int) -> dict[str, float]:
    """Time ``steps`` training steps of zoo model ``name`` in this process (after one warm-up)."""
    import torch

    from segedu.models import get_model
    from segedu.zoo import ZOO
    from segedu.zoo.instances import held_out_instances

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = get_model(name, **ZOO[name].kwargs).train()
    scenes = held_out_instances(batch)
    images, targets = [im for im, _ in scenes], [t for _, t in scenes]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: the allocator's first requests, torch's lazy initialisation
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        step()
    after = resource.getrusage(resource.RUSAGE_SELF)
    weights = hashlib.sha1(b"".join(p.detach().numpy().tobytes() for p in model.parameters()))
    return {"user": (after.ru_utime - before.ru_utime) / steps,
            "system": (after.ru_stime - before.ru_stime) / steps,
            "faults": (after.ru_minflt - before.ru_minflt) / steps,
            "weights": weights.hexdigest()[:12]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.batch, args.steps)))
        return
    rows, settings = [], allocators()
    for name in MODELS:
        baseline, hashes = None, set()
        for label, extra in settings.items():
            env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
            out = subprocess.run([sys.executable, __file__, "--child", name, "--batch",
                                  str(args.batch), "--steps", str(args.steps)],
                                 env=env, capture_output=True, text=True, check=True)
            t = json.loads(out.stdout.strip().splitlines()[-1])
            cpu = t["user"] + t["system"]
            baseline = baseline or cpu
            hashes.add(t["weights"])
            rows.append(f"| {name} | {label} | {t['user']:.2f} | {t['system']:.2f} | {cpu:.2f} "
                        f"| {cpu / baseline:.2f} | {t['faults']:,.0f} |")
            print(rows[-1], flush=True)
        if len(hashes) != 1:
            raise SystemExit(f"{name}: the allocators trained different weights ({hashes})")
    load = os.getloadavg()[0]
    text = (
        "# CPU time of a zoo training step under three memory allocators\n\n"
        f"Measured {datetime.date.today()} with `python benchmarks/cpu_allocator.py --batch "
        f"{args.batch} --steps {args.steps}` on {platform.machine()} CPU, one thread per process; "
        f"load average {load:.1f} at the end (other work on the machine slows the wall time, "
        "hence CPU seconds). A step: forward, the model's losses, backward, AdamW, on "
        f"{args.batch} held-out scenes of 128x128; per step, after one warm-up step. The ratio is "
        "the CPU time over glibc's for the same model. The weights after the steps were the "
        f"same, bit for bit, under the {len(settings)} allocators (checked by the script).\n\n"
        "| model | allocator | user s/step | system s/step | CPU s/step | ratio "
        "| page faults/step |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(rows) + "\n")
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
