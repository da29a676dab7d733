"""The score of the zoo's DINO: k-means and a linear probe of patch features on held-out scenes,
for the ViT and for the mean colour of each patch (the baseline); the measures are described in
:mod:`segedu.zoo.dino`'s docstring."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ...metrics import mean_iou
from ...models.foundation.dino import feature_kmeans, patch_features
from ..scores import scene_tensors
from .data import NUM_CLASSES, PROBE_SCENES, TEST_LENGTH, THING, patch_classes

__all__ = ["kmeans_score", "kmeans_scores", "probe_score", "evaluate_features", "evaluate_dino",
           "evaluate_pixels", "evaluate", "METRICS", "ALL_METRICS", "CURVE_METRICS", "Describe"]

METRICS = ("kmeans_miou", "kmeans_accuracy", "probe_accuracy", "probe_miou")
ALL_METRICS = METRICS + tuple(f"regions_{key}" for key in METRICS)
CURVE_METRICS = ("kmeans_miou", "probe_accuracy", "regions_kmeans_miou", "regions_probe_accuracy")

Describe = Callable[[torch.Tensor], torch.Tensor]  # images (B, 3, S, S) -> features (B, h, w, D)


def kmeans_score(clusters: torch.Tensor, classes: torch.Tensor) -> tuple[float, float]:
    """``(mIoU, accuracy)`` of one image's cluster map against its class map (both ``(h, w)``
    int64).

    Each cluster is matched to at most one class by the assignment that maximises the number of
    patches matched (Hungarian algorithm on the confusion matrix); the mIoU is over the classes
    present (a class left without a cluster has IoU 0), the accuracy the fraction of matched
    patches.
    """
    if clusters.shape != classes.shape:
        raise ValueError(f"clusters {tuple(clusters.shape)} and classes {tuple(classes.shape)} "
                         "differ in shape")
    present = torch.unique(classes)
    cluster_ids = torch.unique(clusters)
    # confusion matrix: rows clusters, columns the classes present
    confusion = ((clusters.reshape(-1, 1, 1) == cluster_ids.view(1, -1, 1))
                 & (classes.reshape(-1, 1, 1) == present.view(1, 1, -1))).sum(0).double().numpy()
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    matched = confusion[rows, cols]
    # IoU of each matched pair: |both| / (|cluster| + |class| - |both|); unmatched classes: 0
    union = confusion.sum(1)[rows] + confusion.sum(0)[cols] - matched
    miou = float((matched / union).sum() / len(present))
    return miou, float(matched.sum() / classes.numel())


def kmeans_scores(features: torch.Tensor, classes: torch.Tensor, *,
                  normalize: bool = True) -> tuple[float, float]:
    """Mean ``(mIoU, accuracy)`` of :func:`kmeans_score` over images: each image's patch features
    ``(L, h, w, D)`` clustered on their own (:func:`~segedu.models.foundation.dino.feature_kmeans`,
    seed 0, cosine when ``normalize``) with k = the number of classes present in its class map
    ``(L, h, w)``."""
    scores = [kmeans_score(feature_kmeans(f, int(torch.unique(c).numel()), normalize=normalize,
                                          seed=0), c)
              for f, c in zip(features, classes, strict=True)]
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def probe_score(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                *, seed: int = 0, num_classes: int = NUM_CLASSES) -> tuple[float, float]:
    """``(accuracy, mIoU)`` on ``test`` of a logistic regression fitted on ``train`` (features
    ``(M, D)``, classes ``(M,)``)."""
    # imported here: every recipe is imported with segedu.zoo.train (0.6 s of sklearn), and
    # most of its users (the chapters reading the seeds' spreads) never fit a probe
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(C=0.1, max_iter=1000, random_state=seed))
    probe.fit(train_x, train_y)
    pred = torch.from_numpy(probe.predict(test_x)).long()
    target = torch.from_numpy(test_y).long()
    return float((pred == target).double().mean()), float(mean_iou(pred, target, num_classes))


def evaluate_features(describe: Describe, *, patch: int, length: int = TEST_LENGTH,
                      probe_scenes: int = PROBE_SCENES, normalize: bool = True,
                      batch: int = 50) -> dict[str, float]:
    """k-means and linear-probe scores of a patch describer on the first ``length`` held-out scenes.

    ``describe(images (B, 3, S, S))`` gives features ``(B, S / patch, S / patch, D)``;
    ``normalize``: cosine k-means (the features L2-normalised) rather than Euclidean. The four
    scores of
    :data:`METRICS` are on the 6 classes; the same four prefixed ``regions_`` on 4 regions, sky,
    grass, water and thing (the three thing classes merged: they differ by shape only, and their
    colours are random).
    """
    def features_and_classes(seed: int, count: int) -> tuple[torch.Tensor, torch.Tensor,
                                                             torch.Tensor]:
        images, semantic = scene_tensors(seed=seed, length=count)  # (L, 3, S, S), (L, S, S)
        feats = torch.cat([describe(images[i:i + batch]).float().cpu()
                           for i in range(0, count, batch)])
        classes = patch_classes(semantic, patch)
        # circle, rectangle, triangle -> thing
        regions = patch_classes(semantic.clamp(max=THING), patch)
        if feats.shape[:3] != classes.shape:
            raise ValueError(f"features {tuple(feats.shape)} do not lie on the {patch}-pixel "
                             "patch grid "
                             f"{tuple(classes.shape)}")
        return feats, classes, regions

    feats, classes, regions = features_and_classes(1, length)
    train_feats, train_classes, train_regions = features_and_classes(0, probe_scenes)
    d, out = feats.shape[-1], {}
    for prefix, test_y, train_y, count in (("", classes, train_classes, NUM_CLASSES),
                                           ("regions_", regions, train_regions, THING + 1)):
        # (a) unsupervised: k-means of each held-out image, k = the number of classes present
        miou, accuracy = kmeans_scores(feats, test_y, normalize=normalize)
        out[f"{prefix}kmeans_miou"], out[f"{prefix}kmeans_accuracy"] = miou, accuracy
        # (b) linear probe: trained on the patches of probe_scenes training scenes, scored on the
        # held-out ones
        accuracy, miou = probe_score(train_feats.reshape(-1, d).double().numpy(),
                                     train_y.reshape(-1).numpy(),
                                     feats.reshape(-1, d).double().numpy(),
                                     test_y.reshape(-1).numpy(),
                                     num_classes=count)
        out[f"{prefix}probe_accuracy"], out[f"{prefix}probe_miou"] = accuracy, miou
    return out


@torch.no_grad()
def evaluate_dino(model: torch.nn.Module, *, length: int = TEST_LENGTH,
                  device: torch.device | str = "cpu",
                  probe_scenes: int = PROBE_SCENES, facet: str = "token") -> dict[str, float]:
    """``kmeans_miou``, ``kmeans_accuracy``, ``probe_accuracy``, ``probe_miou`` of the ViT's patch
    features (:func:`~segedu.models.foundation.dino.patch_features`, ``facet``) on the first
    ``length`` held-out scenes."""
    model.eval().to(device)

    def describe(images: torch.Tensor) -> torch.Tensor:
        return patch_features(model, images.to(device), facet=facet)

    return evaluate_features(describe, patch=model.patch_size, length=length,
                             probe_scenes=probe_scenes)


def evaluate_pixels(*, length: int = TEST_LENGTH, probe_scenes: int = PROBE_SCENES,
                    patch: int = 8) -> dict[str, float]:
    """The same scores for the mean RGB colour of each patch (Euclidean k-means): the baseline."""
    def describe(images: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(images, patch).permute(0, 2, 3, 1)  # (B, 3, h, w) -> (B, h, w, 3)

    return evaluate_features(describe, patch=patch, length=length, probe_scenes=probe_scenes,
                             normalize=False)


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_LENGTH, probe_scenes: int = PROBE_SCENES) -> dict[str, float]:
    """:func:`evaluate_dino`: the recipe's score."""
    return evaluate_dino(model, length=length, probe_scenes=probe_scenes, device=device)
