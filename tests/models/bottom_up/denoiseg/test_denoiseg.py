"""DenoiSeg: Noise2Void's blind spots, the joint loss on hand-derived cases, the network.

The reference, denoiseg 0.3.1 (TensorFlow), does not install beside this project's pinned
csbdeep 0.8.2 (it requires csbdeep < 0.8), so its formulas are checked by hand here:
``loss_denoiseg`` = ``alpha * n2v_mse + (1 - alpha) * mean(sum(onehot) * CE * w_class)`` with
``n2v_mse = sum((target - pred * mask)^2) / sum(mask)``, the target being the noisy pixel where
masked and 0 elsewhere; ``w = (1, 1, 5)``; an unlabelled image is an all-zero label image whose
one-hot is all zero.
"""

from __future__ import annotations

import math

import pytest
import torch

from segedu.models.bottom_up import denoiseg as ds
from segedu.models.registry import get_model

SMALL = ds.DenoiSeg(depth=1, width=4)


def test_blind_spots_replace_only_the_chosen_pixels_by_a_neighbour():
    H, W, r = 40, 36, 2
    # every pixel a distinct value, equal to its index: a replaced value names its source pixel
    images = torch.arange(H * W, dtype=torch.float32).reshape(1, 1, H, W).repeat(3, 2, 1, 1)
    images[:, 1] *= -1  # a second channel, replaced from the same source
    g = torch.Generator().manual_seed(0)
    masked, mask = ds.blind_spot_mask(images, fraction=1 / 16, radius=r, generator=g)
    assert mask.shape == (3, 1, H, W) and mask.dtype == torch.bool
    changed = masked != images  # (3, 2, H, W)
    assert torch.equal(changed[:, :1], mask) and torch.equal(changed[:, 1:], mask)  # only these
    for n in range(3):
        ys, xs = torch.nonzero(mask[n, 0], as_tuple=True)
        source = masked[n, 0, ys, xs].long()
        sy, sx = source // W, source % W
        assert ((sy - ys).abs() <= r).all() and ((sx - xs).abs() <= r).all()
        assert ((sy != ys) | (sx != xs)).all()  # never the pixel itself
        assert torch.equal(masked[n, 1, ys, xs], -masked[n, 0, ys, xs])
    # stratified: one pixel in each 4x4 box (fraction 1/16), i.e. (40 / 4) x (36 / 4) per image
    boxes = mask[:, 0].reshape(3, H // 4, 4, W // 4, 4).sum(dim=(2, 4))
    assert (boxes == 1).all()
    # N2V's default share, 1.5 %: boxes of round(1 / sqrt(0.015)) = 8 pixels
    assert int(ds.blind_spot_positions(64, 64, fraction=0.015).sum()) == 64
    with pytest.raises(ValueError, match="fraction"):
        ds.blind_spot_mask(images, fraction=0.0)


def test_n2v_loss_scores_only_the_masked_pixels():
    images = torch.zeros(1, 1, 4, 4)
    images[0, 0, 1, 2] = 3.0
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, 1, 2] = mask[0, 0, 3, 0] = True
    denoised = torch.ones(1, 1, 4, 4)
    # ((3 - 1)^2 + (0 - 1)^2) / 2 masked pixels
    assert ds.n2v_loss(denoised, images, mask).item() == pytest.approx(2.5)
    other = denoised.clone()
    other[~mask] = 100.0  # the unmasked predictions do not count
    assert ds.n2v_loss(other, images, mask).item() == pytest.approx(2.5)
    assert ds.n2v_loss(denoised, images, torch.zeros_like(mask)).item() == 0.0


def test_three_class_labels_are_denoisegs():
    """skimage's outer boundaries (DenoiSeg's ``add_boundary_label``): the ring around each
    object and the seam between touching ones are class 2."""
    labels = torch.zeros(7, 10, dtype=torch.long)
    labels[2:5, 1:5] = 1
    labels[2:5, 5:9] = 2  # touches 1 along a column
    expected = torch.tensor([
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 2, 2, 2, 2, 2, 2, 2, 2, 0],
        [2, 2, 1, 1, 2, 2, 1, 1, 2, 2],
        [2, 2, 1, 1, 2, 2, 1, 1, 2, 2],
        [2, 2, 1, 1, 2, 2, 1, 1, 2, 2],
        [0, 2, 2, 2, 2, 2, 2, 2, 2, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert torch.equal(ds.three_class_labels(labels), expected)
    assert (ds.three_class_labels(torch.zeros(5, 5, dtype=torch.long)) == -1).all()  # unlabelled


def test_segmentation_loss_by_hand():
    logits = torch.zeros(2, 3, 1, 2)  # uniform: CE = ln 3 on every pixel
    classes = torch.tensor([[[0, 2]], [[-1, -1]]])  # image 2 unlabelled
    # (1 * ln 3 + 5 * ln 3) over 4 pixels, the unlabelled ones counted in the mean
    expected = 6 * math.log(3) / 4
    assert ds.segmentation_loss(logits, classes).item() == pytest.approx(expected)
    logits[0, 2, 0, 1] = 50.0  # the border pixel right: its CE ~ 0
    assert ds.segmentation_loss(logits, classes).item() == pytest.approx(math.log(3) / 4, rel=1e-6)


def joint_case(labelled: bool):
    g = torch.Generator().manual_seed(0)
    noisy = torch.rand(1, 1, 6, 6, generator=g)
    mask = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    mask[0, 0, 1, 1] = mask[0, 0, 4, 3] = True
    outputs = {"denoised": torch.rand(1, 1, 6, 6, generator=g),
               "segmentation": torch.randn(1, 3, 6, 6, generator=g), "noisy": noisy,
               "n2v_mask": mask}
    labels = torch.zeros(6, 6, dtype=torch.long)
    if labelled:
        labels[1:5, 1:4] = 1
    return outputs, {"classes": ds.three_class_labels(labels)[None]}


def test_joint_loss_is_alpha_weighted_and_an_unlabelled_image_only_denoises():
    outputs, targets = joint_case(labelled=True)
    denoise = ds.n2v_loss(outputs["denoised"], outputs["noisy"], outputs["n2v_mask"])
    segment = ds.segmentation_loss(outputs["segmentation"], targets["classes"])
    assert segment > 0
    torch.testing.assert_close(SMALL.loss(outputs, targets), 0.5 * denoise + 0.5 * segment)
    torch.testing.assert_close(ds.denoiseg_loss(outputs, targets, alpha=0.2),
                               0.2 * denoise + 0.8 * segment)
    unlabelled_outputs, unlabelled = joint_case(labelled=False)
    torch.testing.assert_close(SMALL.loss(unlabelled_outputs, unlabelled), 0.5 * denoise)
    with pytest.raises(ValueError, match="alpha"):
        ds.denoiseg_loss(outputs, targets, alpha=1.5)
    with pytest.raises(ValueError, match="do not match"):
        SMALL.loss(outputs, {"classes": targets["classes"][:, :4]})


def test_parameter_count_and_registry():
    """482,500 = the builder's docstring (U-Net depth 3, width 16, 1 + 3 output maps)."""
    assert sum(p.numel() for p in ds.denoiseg().parameters()) == 482_500
    assert "482,500" in ds.denoiseg.__doc__
    assert isinstance(get_model("denoiseg"), ds.DenoiSeg)


def test_forward_masks_in_training_only():
    model = ds.DenoiSeg(in_channels=2, depth=2, width=4)
    images = torch.rand(2, 2, 32, 16)
    out = model.train()(images)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "denoised": (2, 2, 32, 16), "segmentation": (2, 3, 32, 16), "noisy": (2, 2, 32, 16),
        "n2v_mask": (2, 1, 32, 16)}
    assert out["noisy"] is images and out["n2v_mask"].sum() == 2 * 8  # 1.5 %: 8x8 boxes
    assert not model.eval()(images)["n2v_mask"].any()
    with pytest.raises(ValueError, match="images must be"):
        model(torch.rand(1, 1, 32, 16))
    with pytest.raises(TypeError, match="integer"):
        model.targets(torch.zeros(4, 4))


def test_loss_goes_down_and_predict_instances_api():
    torch.manual_seed(0)
    model = ds.denoiseg(depth=2, width=8)
    labels = torch.zeros(2, 32, 32, dtype=torch.long)
    labels[0, 4:14, 4:20] = 1
    labels[0, 18:28, 8:16] = 2
    labels[1, 6:26, 10:22] = 1  # the second image's labels are withheld below
    images = (labels > 0).float()[:, None] + 0.2 * torch.randn(2, 1, 32, 32)
    targets = {"classes": torch.stack([model.targets(labels[0])["classes"],
                                       model.targets(torch.zeros_like(labels[1]))["classes"]])}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = model.loss(model(images), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    predicted = model.predict_instances(images)
    assert model.training and len(predicted) == 2
    for pred in predicted:
        assert pred.shape == (32, 32) and pred.dtype == torch.int64
        assert pred.unique().tolist() == list(range(int(pred.max()) + 1))
    # postprocess: 8-connected components of foreground probability > 0.5
    logits = torch.full((1, 3, 6, 6), -5.0)
    logits[0, 1, 1, 1] = logits[0, 1, 2, 2] = logits[0, 1, 4, 4] = 5.0  # a diagonal pair + 1
    (pieces,) = model.postprocess({"segmentation": logits})
    assert pieces[1, 1] == pieces[2, 2] == 1 and pieces[4, 4] == 2 and int(pieces.max()) == 2
