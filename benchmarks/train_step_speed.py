"""Training-step speed of segedu's U-Net and DeepLabv3+ against segmentation-models-pytorch.

    python benchmarks/train_step_speed.py                  # CPU
    python benchmarks/train_step_speed.py --device cuda    # GPU, with AMP (float16 autocast and a GradScaler)

One step = forward, cross-entropy, backward, Adam update, on the same random batch for both
models, each timed as the best of several steps after warm-up steps. The ratio is segedu's time over
smp's (below 1: segedu is faster).

* **DeepLabv3+** (ResNet-50, output stride 16, separable ASPP with rates 6/12/18, decoder): the
  same network in both libraries, weight for weight (tests/models/test_deeplabv3plus.py), so the
  ratio compares implementations.
* **U-Net**: smp has no classic U-Net (its ``Unet`` is a ResNet encoder with a nearest-neighbour
  up-sampling decoder). The closest configuration is used, ``smp.Unet("resnet34")`` against
  segedu's padded U-Net of width 64 and depth 4; their parameter counts are printed next to the
  times, and the ratio is only indicative.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from segedu.models import get_model

RESULTS = Path(__file__).parent / "results" / "train_step_speed.md"


def step_time(model, images, labels, *, device, amp, repeats, warmup=2) -> float:
    """Best wall time of one training step (forward, loss, backward, optimiser) over ``repeats``."""
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(images), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 4 on the CPU, 16 on a GPU")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
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
            smp.DeepLabV3Plus(encoder_name="resnet50", encoder_weights=None, encoder_output_stride=16,
                              decoder_atrous_rates=(6, 12, 18), classes=classes),
        ),
        "U-Net (closest smp config)": (
            get_model("unet", num_classes=classes, in_channels=3),
            smp.Unet(encoder_name="resnet34", encoder_weights=None, classes=classes),
        ),
    }
    rows = []
    for name, (ours, theirs) in pairs.items():
        ours_s = step_time(ours, images, labels, device=device, amp=amp, repeats=args.repeats)
        theirs_s = step_time(theirs, images, labels, device=device, amp=amp, repeats=args.repeats)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        rows.append((name, count(ours), count(theirs), ours_s, theirs_s))
        print(f"{name}: segedu {ours_s:.3f} s, smp {theirs_s:.3f} s, ratio {ours_s / theirs_s:.2f}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    lines = [
        "# Training-step speed: segedu vs segmentation-models-pytorch",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/train_step_speed.py --device {args.device}` on {where}; "
        f"batch {batch} of 3x{args.size}x{args.size}, {classes} classes, AMP {'on' if amp else 'off'}, best of {args.repeats} steps.",
        "",
        "| model | segedu params | smp params | segedu s/step | smp s/step | ratio | segedu images/s | smp images/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, p_ours, p_theirs, t_ours, t_theirs in rows:
        lines.append(f"| {name} | {p_ours:,} | {p_theirs:,} | {t_ours:.3f} | {t_theirs:.3f} | {t_ours / t_theirs:.2f} "
                     f"| {batch / t_ours:.1f} | {batch / t_theirs:.1f} |")
    lines += ["", "The U-Net row compares different networks (see the script's docstring): indicative only."]
    RESULTS.parent.mkdir(exist_ok=True)
    text = "\n".join(lines) + "\n"
    if device.type == "cuda":
        text = RESULTS.read_text() + "\n" + "\n".join(lines[2:]) + "\n" if RESULTS.exists() else text
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
