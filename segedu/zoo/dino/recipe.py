"""The recipe of the zoo's DINO: ``train`` (baselines, training, checkpoint and card), for
``python -m segedu.zoo.train dino_vit_tiny``."""

from __future__ import annotations

import torch

from ..cards import card_head, metric_table, trained_line
from ..recipe import run_recipe
from ..scores import SIZE
from .scoring import ALL_METRICS, CURVE_METRICS, evaluate_dino, evaluate_pixels
from .training import TEACHER_TEMP, DinoConfig, train_dino

__all__ = ["train"]


def train(config: DinoConfig) -> torch.nn.Module:
    """Score the random-init ViT and the mean-RGB baseline, train with DINO + iBOT
    (:func:`train_dino`, scored ``config.evaluations`` times during training), score again on
    the float16 checkpoint as shipped (so that re-scoring it gives the card's numbers), write
    the card to ``config.out`` (:func:`~segedu.zoo.recipe.run_recipe`); return the model."""
    length, probe = config.test_scenes, config.probe_scenes
    # the scores during training, kept in the run's resume file (a resumed run's card has them)
    kept: dict = {}
    baselines: dict = {}

    def score(model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        return evaluate_dino(model, length=length, device=device, probe_scenes=probe)

    def train_model(model: torch.nn.Module, config: DinoConfig, device: torch.device) -> dict:
        # 1. the baselines: mean colour of each patch, and the same ViT before training
        baselines["pixels"] = evaluate_pixels(length=length, probe_scenes=probe,
                                              patch=model.patch_size)
        baselines["before"] = score(model, device)
        kept["curve"] = [(0, baselines["before"])]

        def score_during(step: int, backbone: torch.nn.Module) -> None:
            scores = score(backbone, device)
            kept["curve"].append((step, scores))
            print(f"step {step}: " + ", ".join(f"{k} {scores[k]:.3f}" for k in CURVE_METRICS),
                  flush=True)

        # 2. DINO + iBOT, scored after each quarter of the steps
        every = max(1, config.steps // config.evaluations) if config.evaluations else 0
        return train_dino(model, config, device, callback=score_during, callback_every=every,
                          keep=kept)

    def card(config, model, device, run, final) -> list[str]:
        curve = [*kept["curve"], (config.steps, final)]
        return _card(config, model, device, run, final, pixels=baselines["pixels"],
                     before=baselines["before"], curve=curve)

    return run_recipe(config, train=train_model, score=score, card=card, score_shipped=True)


def _card(config: DinoConfig, model: torch.nn.Module, device: torch.device, run: dict,
          score: dict, *, pixels: dict, before: dict, curve: list) -> list[str]:
    """The card: how it was trained, the scores, the baselines, the scores during training."""
    batch, lr, scenes = config.batch, config.lr, config.scenes
    length, probe = config.test_scenes, config.probe_scenes
    autocast = ", bfloat16 autocast" if device.type == "cuda" else ""
    return [
        *card_head(f"Zoo model `{config.name}` on synthetic scenes (self-supervised features, "
                   "DINO + iBOT)", config.entry, model),
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


def _temperatures() -> str:
    first, final = TEACHER_TEMP
    return f"{first:g} (constant)" if first == final else f"{first:g} -> {final:g} over 30 %"
