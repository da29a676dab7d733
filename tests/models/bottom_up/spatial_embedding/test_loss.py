"""The spatial embedding loss against a brute-force per-instance loop (float64) and segedu's
Lovász hinge."""

from __future__ import annotations

import math

import pytest
import torch

from segedu.losses import lovasz_hinge
from segedu.models.bottom_up.spatial_embedding import spatial_embedding_loss

PIXEL = 1.0 / 1023.0  # the reference's coordinate spacing, written here independently


def _labels() -> torch.Tensor:
    """Three (9, 11) label images: touching objects with non-consecutive ids and one on the
    border; no object at all; a single one-pixel object."""
    a = torch.zeros(9, 11, dtype=torch.int64)
    a[1:5, 1:5] = 7
    a[1:5, 5:8] = 3  # touches 7
    a[5:9, 8:11] = 100  # on the border
    a[6, 2] = 12  # one pixel
    b = torch.zeros(9, 11, dtype=torch.int64)
    c = torch.zeros(9, 11, dtype=torch.int64)
    c[4, 6] = 1
    return torch.stack([a, b, c])


def _raw(n_sigma: int, seed: int = 0):
    """Raw network outputs (float64, leaves): offsets of a few pixels, bandwidths of ~5 pixels."""
    g = torch.Generator().manual_seed(seed)
    o = (torch.randn(3, 2, 9, 11, generator=g, dtype=torch.float64) * 3 * PIXEL).requires_grad_()
    q = (1.0
         + 0.1 * torch.randn(3, n_sigma, 9, 11, generator=g, dtype=torch.float64)).requires_grad_()
    z = torch.randn(3, 1, 9, 11, generator=g, dtype=torch.float64).requires_grad_()
    return o, q, z


def _outputs(o, q, z):
    n, _, h, w = o.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    coords = torch.stack([xs, ys]) * PIXEL
    return {"embeddings": coords + torch.tanh(o), "sigma": q, "seed": torch.sigmoid(z)}


def _lovasz_hinge_by_sets(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Lovász extension of the Jaccard loss, straight from its definition with Python sets."""
    signs = 2.0 * truth.double() - 1.0
    errors = 1.0 - logits * signs
    order = sorted(range(len(errors)), key=lambda i: -float(errors[i].detach()))
    g_set = {i for i in range(len(truth)) if truth[i]}

    def jaccard_loss(m: set) -> float:  # 1 - |G \ M| / |G u M|
        union = g_set | m
        return 1.0 - len(g_set - m) / len(union) if union else 0.0

    total, previous, chosen = logits.sum() * 0.0, 0.0, set()
    for i in order:
        chosen.add(i)
        current = jaccard_loss(chosen)
        total = total + torch.relu(errors[i]) * (current - previous)
        previous = current
    return total


def _brute_force(outputs, instances, *, center, fg_weight=10.0, w_inst=1.0, w_var=10.0, w_seed=1.0,
                 lovasz=_lovasz_hinge_by_sets):
    """Loop over images, instances and pixels as the paper describes the loss."""
    emb, q, seed = outputs["embeddings"], outputs["sigma"], outputs["seed"]
    n, _, h, w = emb.shape
    inst_all, var_all, seed_all = [], [], []
    for b in range(n):
        pixels = [(r, c) for r in range(h) for c in range(w)]
        ids = sorted({int(instances[b, r, c]) for r, c in pixels} - {0})
        seed_sum = sum(seed[b, 0, r, c] ** 2 for r, c in pixels if instances[b, r, c] == 0)
        inst_terms, var_terms = [], []
        for k in ids:
            members = [(r, c) for r, c in pixels if instances[b, r, c] == k]
            if center == "centroid":
                cx = sum(c * PIXEL for r, c in members) / len(members)
                cy = sum(r * PIXEL for r, c in members) / len(members)
            else:
                cx = sum(emb[b, 0, r, c] for r, c in members) / len(members)
                cy = sum(emb[b, 1, r, c] for r, c in members) / len(members)
            qk = [sum(q[b, d, r, c] for r, c in members) / len(members) for d in range(q.shape[1])]
            var_terms.append(sum(sum((q[b, d, r, c] - qk[d].detach()) ** 2 for r, c in members)
                                 / len(members)
                                 for d in range(q.shape[1])) / q.shape[1])
            sx, sy = math.e ** (10 * qk[0]), math.e ** (10 * qk[-1])  # 1/(2 sigma^2), per axis
            phi = torch.stack([torch.exp(-(sx * (emb[b, 0, r, c] - cx) ** 2
                                           + sy * (emb[b, 1, r, c] - cy) ** 2))
                               for r, c in pixels])
            truth = torch.tensor([bool(instances[b, r, c] == k) for r, c in pixels])
            inst_terms.append(lovasz(2 * phi - 1, truth))
            seed_sum = seed_sum + fg_weight * sum((seed[b, 0, r, c] - phi[i].detach()) ** 2
                                                  for i, (r, c) in enumerate(pixels) if truth[i])
        zero = emb.sum() * 0
        inst_all.append(sum(inst_terms) / len(ids) if ids else zero)
        var_all.append(sum(var_terms) / len(ids) if ids else zero)
        seed_all.append(seed_sum / (h * w))
    inst, var, sd = (sum(t) / n for t in (inst_all, var_all, seed_all))
    return {"instance": inst, "smoothness": var, "seed": sd,
            "loss": w_inst * inst + w_var * var + w_seed * sd}


@pytest.mark.parametrize("center", ["centroid", "mean_embedding"])
@pytest.mark.parametrize("n_sigma", [1, 2])
def test_loss_terms_and_gradients_equal_brute_force(center, n_sigma):
    """Values and gradients (float64): the gradients also check the ``detach`` of the seed target
    phi_k. (The smoothness target q_k is detached too, as in the reference, but that cannot show
    in a gradient: the deviations q_i - q_k sum to zero, so the variance's gradient is the same.)"""
    labels = _labels()
    raw = _raw(n_sigma)
    got = spatial_embedding_loss(_outputs(*raw), labels, center=center)
    grads = torch.autograd.grad(got["loss"], raw)
    raw2 = [t.detach().clone().requires_grad_() for t in raw]
    expected = _brute_force(_outputs(*raw2), labels, center=center)
    expected_grads = torch.autograd.grad(expected["loss"], raw2)
    for name in ("instance", "smoothness", "seed", "loss"):
        torch.testing.assert_close(got[name], expected[name], rtol=1e-10, atol=1e-12, msg=name)
    assert got["instance"] > 0.1 and got["smoothness"] > 0 and got["seed"] > 0  # not trivially 0
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


def test_each_term_alone_and_weights():
    """Every term with its own weight; the seed term's gradient never reaches the embeddings."""
    labels = _labels()
    o, q, z = _raw(1, seed=1)
    out = _outputs(o, q, z)
    terms = spatial_embedding_loss(out, labels)
    weighted = spatial_embedding_loss(out, labels, foreground_weight=2.0, w_inst=0.5, w_var=3.0,
                                      w_seed=0.25)
    expected = _brute_force(_outputs(o, q, z), labels, center="centroid", fg_weight=2.0, w_inst=0.5,
                            w_var=3.0,
                            w_seed=0.25)
    torch.testing.assert_close(weighted["loss"], expected["loss"], rtol=1e-10, atol=0)
    assert terms["instance"] == weighted["instance"]
    seed_only = spatial_embedding_loss(out, labels, w_inst=0.0, w_var=0.0)["loss"]
    go, gq, gz = torch.autograd.grad(seed_only, (o, q, z))
    assert go.abs().max() == 0 and gq.abs().max() == 0 and gz.abs().max() > 0


def test_instance_term_equals_segedu_lovasz_hinge_per_instance():
    """The instance term is the mean over instances of ``lovasz_hinge(2 phi_k - 1, S_k)``."""
    labels = _labels()[0]
    o, q, z = _raw(1, seed=2)
    out = {k: v[:1] for k, v in _outputs(o, q, z).items()}
    emb, sig = out["embeddings"][0], out["sigma"][0, 0]
    ys, xs = torch.nonzero(labels >= 0, as_tuple=True)
    per_instance = []
    for k in labels.unique()[1:]:
        mask = labels == k
        center = (torch.stack([xs[mask.ravel()].double().mean(), ys[mask.ravel()].double().mean()])
                  * PIXEL)
        s = torch.exp(10 * sig[mask].mean())
        phi = torch.exp(-s * ((emb - center[:, None, None]) ** 2).sum(0))
        per_instance.append(lovasz_hinge((2 * phi - 1)[None], mask[None]))
    got = spatial_embedding_loss(out, labels[None])["instance"]
    torch.testing.assert_close(got, torch.stack(per_instance).mean(), rtol=1e-12, atol=0)


def test_empty_image_and_one_pixel_object():
    """No object: only the background seed term, and the graph still reaches every output.
    One one-pixel object: smoothness 0, the seed term uses phi = exp(-s |e - x|^2)."""
    o, q, z = _raw(1, seed=3)
    labels = _labels()
    empty = spatial_embedding_loss({k: v[1:2] for k, v in _outputs(o, q, z).items()}, labels[1:2])
    seed = torch.sigmoid(z[1])
    assert empty["instance"] == 0 and empty["smoothness"] == 0
    torch.testing.assert_close(empty["seed"], (seed ** 2).mean(), rtol=1e-12, atol=0)
    empty["loss"].backward()
    assert o.grad is not None and q.grad is not None and o.grad.abs().max() == 0
    one = spatial_embedding_loss({k: v[2:3] for k, v in _outputs(o, q, z).items()}, labels[2:3])
    assert one["smoothness"] == 0
    e = torch.tanh(o[2, :, 4, 6])  # embedding minus coordinate = the offset
    phi = torch.exp(-torch.exp(10 * q[2, 0, 4, 6]) * (e ** 2).sum())
    seed = torch.sigmoid(z[2, 0])
    expected_seed = (((seed ** 2).sum() - seed[4, 6] ** 2 + 10 * (seed[4, 6] - phi) ** 2)
                     / seed.numel())
    torch.testing.assert_close(one["seed"], expected_seed, rtol=1e-12, atol=0)


def test_perfect_outputs_have_zero_loss():
    """Embeddings exactly at the centroids, a constant small bandwidth (0.2 pixel), seed = phi
    (1 on the objects, 0 elsewhere): every term vanishes (up to exp(-12.5) of neighbours)."""
    labels = _labels()
    h, w = labels.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    emb = torch.stack([xs, ys])[None].repeat(3, 1, 1, 1) * PIXEL
    for b in range(3):
        for k in labels[b].unique()[1:]:
            mask = labels[b] == k
            emb[b, 0][mask], emb[b, 1][mask] = xs[mask].mean() * PIXEL, ys[mask].mean() * PIXEL
    q = torch.full((3, 1, h, w), math.log(1 / (2 * (0.2 * PIXEL) ** 2)) / 10, dtype=torch.float64)
    seed = (labels > 0).double()[:, None]
    got = spatial_embedding_loss({"embeddings": emb, "sigma": q, "seed": seed}, labels)
    assert got["loss"] < 1e-5 and got["smoothness"] == 0 and got["seed"] == 0


def test_bad_input():
    labels = _labels()
    out = {k: v.detach() for k, v in _outputs(*_raw(1)).items()}
    with pytest.raises(KeyError, match="seed"):
        spatial_embedding_loss({k: v for k, v in out.items() if k != "seed"}, labels)
    with pytest.raises(ValueError, match="2 channels"):
        spatial_embedding_loss({**out, "embeddings": out["embeddings"][:, :1]}, labels)
    with pytest.raises(ValueError, match="sigma"):
        spatial_embedding_loss({**out, "sigma": out["sigma"].repeat(1, 3, 1, 1)}, labels)
    with pytest.raises(ValueError, match="seed"):
        spatial_embedding_loss({**out, "seed": out["seed"][..., :5]}, labels)
    with pytest.raises(TypeError, match="integer"):
        spatial_embedding_loss(out, labels.float())
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        spatial_embedding_loss(out, labels[:2])
    with pytest.raises(ValueError, match=">= 0"):
        spatial_embedding_loss(out, -labels)
    with pytest.raises(ValueError, match="center"):
        spatial_embedding_loss(out, labels, center="medoid")
