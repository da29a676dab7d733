r"""Inference of spatial embeddings: seeds and learned bandwidths cluster the pixels
(Neven et al., 2019).

At test time there is no ground truth to compute centres and bandwidths from; the network has
learned where they are. Each pixel :math:`i` carries an embedding :math:`e_i`, a raw bandwidth
:math:`q_i` and a seed score :math:`p_i`, trained to equal :math:`\phi_k(e_i)`, which is high
where the embedding lands near its centre. So a pixel of high seed score is a good place to read
a centre and a bandwidth from, and one instance is found per step:

1. candidates: the foreground pixels, those with :math:`p_i >` ``fg_thresh``;
2. seed: the unclustered candidate of highest seed score; stop when it is below ``seed_thresh``;
3. proposal: the candidates with
   :math:`\phi(e_j) = \exp(-s \lVert e_j - e_\text{seed}\rVert^2) > 0.5`, the seed's embedding as
   centre and its own precision :math:`s = \exp(10 q_\text{seed})`;
4. its *unclustered* pixels become a new instance if they are at least ``min_size`` pixels and
   more than ``min_unclustered_fraction`` of the proposal (a proposal that mostly re-finds an
   instance already taken is a duplicate);
5. every pixel of the proposal (and the seed) is marked clustered, accepted or not; back to 2.

Differences from the authors' ``Cluster.cluster``, on purpose: the reference writes an accepted
proposal over *all* its pixels, re-labelling pixels that an earlier instance had taken, where
segedu gives the new instance only the unclustered ones (the first, higher-seed instance keeps
its pixels), and the reference stops when fewer than ``min_size`` pixels are left unclustered,
which segedu's size test of step 4 makes unnecessary. Its defaults, ``min_size=128`` and a seed
threshold of 0.9 at test time, are for 1024 x 2048 Cityscapes images; segedu's are for nuclei of
about 100 pixels.
"""

from __future__ import annotations

import torch

from .bandwidth import gaussian_score

__all__ = ["cluster_embeddings"]


def cluster_embeddings(
    embeddings: torch.Tensor,
    sigma: torch.Tensor,
    seed: torch.Tensor,
    *,
    seed_thresh: float = 0.5,
    fg_thresh: float = 0.5,
    min_size: int = 10,
    min_unclustered_fraction: float = 0.5,
) -> torch.Tensor:
    """Cluster one image's pixels into instances (the steps of the module docstring).

    Args:
        embeddings: ``(2, H, W)`` embeddings :math:`e = x + o`.
        sigma: ``(n_sigma, H, W)`` raw bandwidths :math:`q` (``n_sigma`` 1 or 2).
        seed: ``(1, H, W)`` or ``(H, W)`` seed scores in [0, 1].
        seed_thresh: lowest seed score that may start an instance.
        fg_thresh: seed score above which a pixel is foreground (a candidate).
        min_size: fewest pixels of an instance.
        min_unclustered_fraction: an instance needs more than this fraction of its
            proposal unclustered.

    Returns:
        ``(H, W)`` int64 label image: 0 background, instances ``1 .. K`` in the order found.
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 3 or embeddings.shape[0] != 2:
        raise ValueError("embeddings must be a (2, H, W) tensor, got "
                         f"{tuple(getattr(embeddings, 'shape', ()))}")
    h, w = embeddings.shape[1:]
    if seed.ndim == 3 and seed.shape[0] == 1:
        seed = seed[0]
    if seed.shape != (h, w):
        raise ValueError(f"seed must be (1, H, W) or (H, W) = ({h}, {w}), got {tuple(seed.shape)}")
    if sigma.ndim != 3 or sigma.shape[0] not in (1, 2) or sigma.shape[1:] != (h, w):
        raise ValueError(f"sigma must be (n_sigma, H, W) = (1 or 2, {h}, {w}), got "
                         f"{tuple(sigma.shape)}")
    if not (embeddings.is_floating_point() and sigma.is_floating_point()
            and seed.is_floating_point()):
        raise TypeError("embeddings, sigma and seed must be float tensors")
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")

    labels = torch.zeros(h * w, dtype=torch.int64, device=embeddings.device)
    # 1. candidates: the foreground pixels
    foreground = seed.reshape(-1) > fg_thresh  # (P,)
    emb = embeddings.reshape(2, -1)[:, foreground]  # (2, F)
    sig = sigma.reshape(sigma.shape[0], -1)[:, foreground]  # (n_sigma, F)
    score = seed.reshape(-1)[foreground]  # (F,)
    fg_labels = torch.zeros(score.shape[0], dtype=torch.int64, device=embeddings.device)
    unclustered = torch.ones_like(score, dtype=torch.bool)
    count = 0
    while unclustered.any():
        # 2. the unclustered candidate of highest seed score
        masked = torch.where(unclustered, score, torch.full_like(score, -1.0))
        best = int(masked.argmax())
        if masked[best] < seed_thresh:
            break
        # 3. the proposal around its embedding, with its bandwidth
        phi = gaussian_score(emb, emb[:, best], sig[:, best])  # (F,)
        proposal = phi > 0.5
        # 4. its unclustered pixels make an instance, if enough and not a duplicate
        new = proposal & unclustered
        n_new = int(new.sum())
        if n_new >= min_size and n_new > min_unclustered_fraction * int(proposal.sum()):
            count += 1
            fg_labels[new] = count
        # 5. the proposal and the seed are done with, accepted or not
        unclustered &= ~proposal
        unclustered[best] = False
    labels[foreground] = fg_labels
    return labels.reshape(h, w)
