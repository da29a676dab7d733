"""The recipe of the zoo's DINO: ``train`` (baselines, training, checkpoint and card), for
``python -m segedu.zoo.train dino_vit_tiny``."""

from __future__ import annotations

import torch

from ..cards import card_head, metric_table, trained_line, write_card
from ..float16 import load_float32, save_float16
from ..scores import SIZE
from .scoring import ALL_METRICS, CURVE_METRICS, evaluate_dino, evaluate_pixels
from .training import TEACHER_TEMP, DinoConfig, train_dino

__all__ = ["train"]


def train(config: DinoConfig) -> torch.nn.Module:
    """Score the random-init ViT and the mean-RGB baseline, train with DINO + iBOT
    (:func:`train_dino`, scored ``config.evaluations`` times during training), score again, save
    the teacher backbone in float16 and write the card to ``config.out``; return the model.

    The final scores are taken on the float16 checkpoint as shipped, so that re-scoring it gives
    the card's numbers.
    """
    device, model = config.start()  # the random initialisation, scored below as the 'before'
    entry, steps, batch, lr = config.entry, config.steps, config.batch, config.lr
    scenes, length, probe = config.scenes, config.test_scenes, config.probe_scenes
    # 1. the baselines: mean colour of each patch, and the same ViT before training
    pixels = evaluate_pixels(length=length, probe_scenes=probe, patch=model.patch_size)
    before = evaluate_dino(model, length=length, device=device, probe_scenes=probe)
    # 2. DINO + iBOT, scored after each quarter of the steps; the scores so far are kept in the
    # run's resume file, so that a resumed run's card has them all
    kept = {"curve": [(0, before)]}

    def score_during(step: int, backbone: torch.nn.Module) -> None:
        scores = evaluate_dino(backbone, length=length, device=device, probe_scenes=probe)
        kept["curve"].append((step, scores))
        print(f"step {step}: " + ", ".join(f"{k} {scores[k]:.3f}" for k in CURVE_METRICS),
              flush=True)

    every = max(1, steps // config.evaluations) if config.evaluations else 0
    run = train_dino(model, config, device, callback=score_during, callback_every=every,
                     keep=kept)
    curve = kept["curve"]
    # 3. the trained teacher backbone, scored in float16 as it is shipped
    path = save_float16(model, config.checkpoint_path)
    model.load_state_dict(load_float32(path))
    score = evaluate_dino(model, length=length, device=device, probe_scenes=probe)
    curve.append((steps, score))
    autocast = ", bfloat16 autocast" if device.type == "cuda" else ""
    card = [
        *card_head(f"Zoo model `{config.name}` on synthetic scenes (self-supervised features, "
                   "DINO + iBOT)", entry, model),
        trained_line(config, device, run["steps"], run["minutes"])
        + f" ({run['seconds_per_step']:.2f} s per step, with the evaluations during training, "
        f"and {run['data_minutes']:.1f} min to draw the data); no labels used",
        f"- recipe (`segedu.zoo.dino.train_dino`): batch {batch} from {scenes} scenes of "
        f"{SIZE}x{SIZE} (seed 0), 2 global views of 64 px (20-60 % of the area; brightness, "
        "contrast and saturation jitter, no hue, grey or solarisation), no local views; DINO's "
        "loss on the class tokens and iBOT's masked patch loss (half of the views masked, "
        f"10-50 % of their patches in blocks), one head of {config.out_dim} prototypes for both; "
        f"AdamW {lr:g}, 10 % linear warm-up then cosine decay, weight decay cosine 0.04 -> 0.4, "
        f"teacher temperature {_temperatures()} (patches 0.02), teacher momentum cosine "
        f"0.996 -> 1, last layer frozen for 1 %, gradient norm clipped at 3{autocast}; the "
        f"teacher's backbone is shipped (last class loss {run['class_loss']:.3f}, patch loss "
        f"{run['patch_loss']:.3f})",
        f"- held-out split: the first {length} scenes of seed 1, never seen in training, on the "
        "16 x 16 patch grid (a patch's class: the most frequent of its pixels); k-means of each "
        "image's patch tokens (cosine, k = the classes present) matched to the classes by the "
        "Hungarian algorithm (mIoU, accuracy); linear probe (logistic regression) from "
        f"{probe} scenes of seed 0. `regions_`: the same with the three thing classes merged into "
        "one (sky, grass, water, thing)",
        "",
        *metric_table({key: score[key] for key in ALL_METRICS}),
        "What the training added, the same scores for the mean RGB colour of each patch "
        "(Euclidean k-means) and for this ViT at its random initialisation:",
        "",
        "| metric | mean RGB of the patch | random-init ViT | trained ViT |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {key} | {pixels[key]:.3f} | {before[key]:.3f} | {score[key]:.3f} |"
          for key in ALL_METRICS],
        "",
        "During training (the teacher's backbone, in float32 but for the last row):",
        "",
        "| step | " + " | ".join(CURVE_METRICS) + " |",
        "| ---: |" + " ---: |" * len(CURVE_METRICS),
        *[f"| {step} | " + " | ".join(f"{values[k]:.3f}" for k in CURVE_METRICS) + " |"
          for step, values in curve],
        "",
    ]
    write_card(config.card_path, card)
    return model


def _temperatures() -> str:
    first, final = TEACHER_TEMP
    return f"{first:g} (constant)" if first == final else f"{first:g} -> {final:g} over 30 %"
