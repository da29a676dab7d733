"""Training-step speed of segedu's U-Net and DeepLabv3+ against segmentation-models-pytorch.

    python benchmarks/train_step_speed.py                  # CPU
    python benchmarks/train_step_speed.py --device cuda    # GPU, AMP (float16 autocast, GradScaler)

One step = forward, cross-entropy, backward, Adam update, on the same random batch for both
models. The two models' steps alternate (segedu, smp, segedu, smp, ...) so that a change in the
machine's load or clock during the run falls on both alike; each model's time is the best of its
steps after warm-up steps. The ratio is segedu's time over smp's (below 1: segedu is faster).

* **DeepLabv3+** (ResNet-50, output stride 16, separable ASPP with rates 6/12/18, decoder): the
  same network in both libraries, weight for weight (tests/models/semantic/test_deeplabv3plus.py).
* **U-Net, ResNet-34 encoder**: segedu's ``unet_resnet`` is smp's ``Unet("resnet34")`` weight for
  weight (tests/models/semantic/test_unet_resnet.py).

Both ratios therefore compare implementations of one network. smp has no classic U-Net (the
paper's encoder learnt from scratch, transposed-convolution up-sampling): ``--classic`` adds a row
with segedu's padded U-Net of width 64 and depth 4 next to ``smp.Unet("resnet34")``, a different
network, so that ratio is only indicative.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from segedu.models import get_model

RESULTS = Path(__file__).parent / "results" / "train_step_speed.md"


class Stepper:
    """One model with its optimiser and gradient scaler; ``step()`` times one training step."""

    def __init__(self, model, images, labels, *, device, amp) -> None:
        self.model = model.to(device).train()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp)
        self.images, self.labels, self.device, self.amp = images, labels, device, amp

    def step(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(self.images)
            out = out["out"] if isinstance(out, dict) else out  # segedu's dict, smp's tensor
            loss = F.cross_entropy(out, self.labels)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def step_times(ours, theirs, images, labels, *, device, amp, repeats,
               warmup=2) -> tuple[float, float]:
    """Best step time of each model, their steps alternating, after ``warmup`` steps each."""
    steppers = [Stepper(m, images, labels, device=device, amp=amp) for m in (ours, theirs)]
    times: list[list[float]] = [[], []]
    for i in range(warmup + repeats):
        for stepper, kept in zip(steppers, times, strict=True):
            elapsed = stepper.step()
            if i >= warmup:
                kept.append(elapsed)
    for stepper in steppers:  # free the memory before the next pair
        stepper.model.cpu()
    return min(times[0]), min(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None,
                        help="default: 4 on the CPU, 16 on a GPU")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--classic", action="store_true",
                        help="add the indicative classic U-Net row")
    args = parser.parse_args()
    import segmentation_models_pytorch as smp

    device = torch.device(args.device)
    amp = device.type == "cuda"
    batch = args.batch or (16 if device.type == "cuda" else 4)
    classes = 6
    torch.manual_seed(0)
    images = torch.randn(batch, 3, args.size, args.size, device=device)
    labels = torch.randint(0, classes, (batch, args.size, args.size), device=device)
    pairs = {
        "DeepLabv3+ (ResNet-50)": (
            get_model("deeplabv3plus", num_classes=classes),
            smp.DeepLabV3Plus(encoder_name="resnet50", encoder_weights=None,
                              encoder_output_stride=16,
                              decoder_atrous_rates=(6, 12, 18), classes=classes),
        ),
        "U-Net (ResNet-34 encoder)": (
            get_model("unet_resnet", backbone="resnet34", num_classes=classes),
            smp.Unet(encoder_name="resnet34", encoder_weights=None, classes=classes),
        ),
    }
    if args.classic:
        pairs["classic U-Net vs smp Unet (different networks)"] = (
            get_model("unet", num_classes=classes, in_channels=3),
            smp.Unet(encoder_name="resnet34", encoder_weights=None, classes=classes),
        )
    rows = []
    for name, (ours, theirs) in pairs.items():
        ours_s, theirs_s = step_times(ours, theirs, images, labels, device=device, amp=amp,
                                      repeats=args.repeats)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        rows.append((name, count(ours), count(theirs), ours_s, theirs_s))
        print(f"{name}: segedu {ours_s:.3f} s, smp {theirs_s:.3f} s, ratio {ours_s / theirs_s:.2f}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    command = " ".join(["python benchmarks/train_step_speed.py", *sys.argv[1:]])
    lines = [
        "# Training-step speed: segedu vs segmentation-models-pytorch",
        "",
        f"Measured {datetime.date.today()} with `{command}` on {where}; "
        f"batch {batch} of 3x{args.size}x{args.size}, {classes} classes, AMP "
        f"{'on' if amp else 'off'}, best of {args.repeats} alternating steps per model.",
        "",
        "| model | segedu params | smp params | segedu s/step | smp s/step | ratio | segedu "
        "images/s | smp images/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, p_ours, p_theirs, t_ours, t_theirs in rows:
        lines.append(f"| {name} | {p_ours:,} | {p_theirs:,} | {t_ours:.3f} | {t_theirs:.3f} | "
                     f"{t_ours / t_theirs:.2f} | {batch / t_ours:.1f} | {batch / t_theirs:.1f} |")
    if args.classic:
        lines += ["",
                  "The classic U-Net row compares different networks (see the script's docstring): "
                  "indicative only."]
    RESULTS.parent.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    if device.type == "cuda":
        text = (RESULTS.read_text() + "\n" + "\n".join(lines[2:]) + "\n" if RESULTS.exists()
                else text)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
