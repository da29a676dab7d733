r"""The loss of spatial embeddings with learned bandwidth (Neven et al., CVPR 2019).

D. Neven, B. De Brabandere, M. Proesmans, L. Van Gool, "Instance Segmentation by Jointly
Optimizing Spatial Embeddings and Clustering Bandwidth", CVPR 2019,
https://arxiv.org/abs/1906.11109 (code: github.com/davyneven/SpatialEmbeddings).

For one image with instances :math:`S_1, \dots, S_K` (pixel sets), embeddings
:math:`e_i = x_i + o_i`, raw bandwidths :math:`q_i` and seed scores :math:`p_i`:

1. **Centre** of instance :math:`k`: the centroid of its pixel coordinates,
   :math:`C_k = \frac{1}{|S_k|}\sum_{i \in S_k} x_i` (``center="centroid"``, the authors' training
   setting ``to_center=True``, a fixed target), or the paper's mean embedding
   :math:`C_k = \frac{1}{|S_k|}\sum_{i \in S_k} e_i` (``center="mean_embedding"``, which moves
   with the network and receives gradients).
2. **Bandwidth** of instance :math:`k`: :math:`q_k = \frac{1}{|S_k|}\sum_{i \in S_k} q_i`, hence
   the precision :math:`s_k = \exp(10\, q_k) = 1 / (2\sigma_k^2)` (see :mod:`.bandwidth`).
3. **Instance term**: :math:`\phi_k(e_i) = \exp(-s_k \lVert e_i - C_k\rVert^2)` over *all* pixels
   of the image is a foreground probability map for instance :math:`k`; it is trained with the
   Lovász hinge (:func:`segedu.losses.lovasz_hinge`, a surrogate of 1 - IoU) on the logits
   :math:`2\phi_k - 1 \in [-1, 1]` against the mask of :math:`S_k`, averaged over the instances:

   .. math:: L_\text{inst} = \frac{1}{K}\sum_k \text{Lovász-hinge}(2\phi_k - 1,\ [i \in S_k]).

4. **Smoothness** of the bandwidth (the reference's ``var_loss``): every pixel's :math:`q_i`
   pulled towards its instance's mean, which is held fixed (detached):

   .. math:: L_\text{smooth} = \frac{1}{K}\sum_k \frac{1}{|S_k|}\sum_{i \in S_k} (q_i - q_k)^2 .

   (The detach follows the reference; it does not change the gradient, because the deviations
   :math:`q_i - q_k` sum to zero over :math:`S_k`.)

5. **Seed term**: the seed map regresses, on each instance's pixels, its own :math:`\phi_k`
   (detached: the seed learns where the embedding is good, it does not move the embedding),
   and 0 on the background, summed over the pixels and divided by their number :math:`HW`:

   .. math:: L_\text{seed} = \frac{1}{HW}\Big(\sum_{i \in \text{bg}} p_i^2
             + w_\text{fg} \sum_k \sum_{i \in S_k} (p_i - \phi_k(e_i))^2\Big).

The image's loss is :math:`w_\text{inst} L_\text{inst} + w_\text{var} L_\text{smooth} +
w_\text{seed} L_\text{seed}`, averaged over the images of the batch. An image without objects
has :math:`L_\text{inst} = L_\text{smooth} = 0` and only the background seed term.

**Weights.** Those of the authors' Cityscapes training configuration, also EmbedSeg's defaults:
:math:`w_\text{inst} = 1`, :math:`w_\text{var} = 10`, :math:`w_\text{seed} = 1` and a foreground
weight :math:`w_\text{fg} = 10`. The foreground weight balances the seed regression: the
background covers most pixels, and without it the seed map would learn to stay near 0.
"""

from __future__ import annotations

import torch

from ....losses import lovasz_hinge
from .bandwidth import gaussian_score
from .coordinates import PIXEL_SIZE, coordinate_map

__all__ = ["CENTERS", "spatial_embedding_loss"]

CENTERS = ("centroid", "mean_embedding")


def _check_inputs(outputs: dict[str, torch.Tensor],
                  instances: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Read and check ``embeddings (N, 2, H, W)``, ``sigma (N, S, H, W)``, ``seed (N, 1, H, W)``."""
    if not isinstance(outputs, dict):
        raise TypeError("outputs must be the model's dict of tensors, got "
                        f"{type(outputs).__name__}")
    missing = [key for key in ("embeddings", "sigma", "seed") if key not in outputs]
    if missing:
        raise KeyError(f"outputs lacks {missing}; it needs 'embeddings', 'sigma' and 'seed'")
    embeddings, sigma, seed = outputs["embeddings"], outputs["sigma"], outputs["seed"]
    for name, x in (("embeddings", embeddings), ("sigma", sigma), ("seed", seed)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 4:
            raise ValueError(f"outputs[{name!r}] must be a float tensor (N, C, H, W), got "
                             f"{getattr(x, 'dtype', type(x).__name__)} "
                             f"{tuple(getattr(x, 'shape', ()))}")
    n, _, h, w = embeddings.shape
    if embeddings.shape[1] != 2:
        raise ValueError("outputs['embeddings'] must have 2 channels (x, y), got "
                         f"{tuple(embeddings.shape)}")
    if n == 0:
        raise ValueError("the batch is empty (N = 0)")
    if sigma.shape[1] not in (1, 2) or sigma.shape[0] != n or sigma.shape[2:] != (h, w):
        raise ValueError(f"outputs['sigma'] must be (N, 1 or 2, H, W) = ({n}, 1|2, {h}, {w}), "
                         f"got {tuple(sigma.shape)}")
    if seed.shape != (n, 1, h, w):
        raise ValueError(f"outputs['seed'] must be (N, 1, H, W) = {(n, 1, h, w)}, got "
                         f"{tuple(seed.shape)}")
    if (not isinstance(instances, torch.Tensor) or instances.is_floating_point()
        or instances.dtype == torch.bool):
        raise TypeError(f"instances must be an integer tensor of instance ids, got "
                        f"{getattr(instances, 'dtype', type(instances).__name__)}")
    if instances.shape != (n, h, w):
        raise ValueError(f"instances must be (N, H, W) = {(n, h, w)} like the outputs, got "
                         f"{tuple(instances.shape)}")
    if instances.numel() and instances.min() < 0:
        raise ValueError(f"instance ids must be >= 0 (0 = background), got {int(instances.min())}")
    return embeddings, sigma, seed


def spatial_embedding_loss(
    outputs: dict[str, torch.Tensor],
    instances: torch.Tensor,
    *,
    center: str = "centroid",
    pixel_size: float = PIXEL_SIZE,
    foreground_weight: float = 10.0,
    w_inst: float = 1.0,
    w_var: float = 10.0,
    w_seed: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The loss of the module docstring and its three terms.

    Args:
        outputs: ``"embeddings"`` ``(N, 2, H, W)`` (:math:`e = x + o`), ``"sigma"``
            ``(N, n_sigma, H, W)`` (raw bandwidth :math:`q`, ``n_sigma`` 1 or 2) and ``"seed"``
            ``(N, 1, H, W)`` (in [0, 1]), as :class:`~.model.SpatialEmbedding` returns them.
        instances: ``(N, H, W)`` integer instance ids, 0 = background (any positive ids).
        center: ``"centroid"`` or ``"mean_embedding"`` (step 1).
        pixel_size: coordinate units per pixel of the embeddings (for the centroids).
        foreground_weight, w_inst, w_var, w_seed: the weights of the module docstring.

    Returns:
        Scalar tensors: ``"loss"`` (the weighted sum) and the batch means of the unweighted terms
        ``"instance"``, ``"smoothness"`` and ``"seed"``.
    """
    embeddings, sigma, seed = _check_inputs(outputs, instances)
    if center not in CENTERS:
        raise ValueError(f"center must be one of {CENTERS}, got {center!r}")
    n, _, h, w = embeddings.shape
    n_sigma = sigma.shape[1]
    coords = coordinate_map(h, w, pixel_size=pixel_size, dtype=embeddings.dtype,
                            device=embeddings.device).reshape(2, -1)  # (2, P), P = H W
    terms: dict[str, list[torch.Tensor]] = {"instance": [], "smoothness": [], "seed": []}
    for b in range(n):
        emb = embeddings[b].reshape(2, -1)  # (2, P)
        sig = sigma[b].reshape(n_sigma, -1)  # (n_sigma, P)
        p = seed[b].reshape(-1)  # (P,)
        labels = instances[b].reshape(-1).to(embeddings.device)  # (P,)
        ids = labels.unique()
        ids = ids[ids != 0]

        # the seed map's background part: regress to 0
        seed_sum = (p[labels == 0] ** 2).sum()
        inst_terms, smooth_terms = [], []
        for k in ids:
            mask = labels == k  # (P,) the pixels S_k
            # 1. centre C_k: centroid of the coordinates, or mean embedding
            c = (coords if center == "centroid" else emb)[:, mask].mean(1)  # (2,)
            # 2. bandwidth q_k: mean raw sigma over S_k (before the exponential)
            sig_in = sig[:, mask]  # (n_sigma, |S_k|)
            q_k = sig_in.mean(1)  # (n_sigma,)
            # 4. smoothness: each q_i towards the (fixed) q_k
            smooth_terms.append(((sig_in - q_k.detach()[:, None]) ** 2).mean())
            # 3. phi_k over all pixels of the image, Lovász hinge of 2 phi - 1 against S_k
            phi = gaussian_score(emb, c, q_k)  # (P,)
            inst_terms.append(lovasz_hinge((2.0 * phi - 1.0)[None], mask[None]))
            # 5. seed on S_k: regress phi_k, detached, weighted by the foreground weight
            seed_sum = seed_sum + foreground_weight * ((p[mask] - phi[mask].detach()) ** 2).sum()

        zero = embeddings.sum() * 0.0 + sigma.sum() * 0.0  # 0 that keeps every output in the graph
        terms["instance"].append(torch.stack(inst_terms).mean() if inst_terms else zero)
        terms["smoothness"].append(torch.stack(smooth_terms).mean() if smooth_terms else zero)
        terms["seed"].append(seed_sum / (h * w))

    result = {name: torch.stack(values).mean() for name, values in terms.items()}  # batch means
    result["loss"] = (w_inst * result["instance"] + w_var * result["smoothness"]
                      + w_seed * result["seed"])
    return result
