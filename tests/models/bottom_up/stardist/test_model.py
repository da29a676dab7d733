"""The StarDist model: shapes, parameter count, loss (vs a NumPy transcription of stardist's Keras
loss), training lowers the loss, post-processing of perfect outputs gives the labels back."""

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from segedu.data.synthetic_cells import SyntheticCells
from segedu.metrics import matching
from segedu.models.bottom_up.stardist import StarDist, stardist, stardist_loss
from segedu.models.registry import get_model


def test_builder_parameter_count_and_shapes():
    """depth 3, width 16 (channels 16, 32, 64, 128), 128 features, 32 rays; derived layer
    by layer."""
    def double(c_in, c_out):  # two 3x3 convs without bias + two batch norms (weight, bias)
        return 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out

    ch = [16, 32, 64, 128]
    count = double(1, 16) + sum(double(ch[i], ch[i + 1]) for i in range(3))
    # up + conv
    count += sum(4 * ch[i + 1] * ch[i] + ch[i] + double(2 * ch[i], ch[i]) for i in range(3))
    count += 9 * 16 * 128 + 128  # features
    count += 128 + 1 + 128 * 32 + 32  # heads
    model = stardist()
    assert count == 505_249 == sum(p.numel() for p in model.parameters())
    assert isinstance(get_model("stardist"), StarDist)
    out = model(torch.rand(2, 1, 32, 48))
    assert out["prob"].shape == (2, 1, 32, 48) and out["dist"].shape == (2, 32, 32, 48)
    with pytest.raises(ValueError, match="multiple"):
        model(torch.rand(1, 1, 30, 32))
    with pytest.raises(ValueError, match="n_rays"):
        StarDist(n_rays=2)


def _keras_loss(prob_logit, dist_pred, prob_true, dist_true):
    """stardist's loss in NumPy, channels last as Keras: prob_loss + 0.2 * dist_loss with
    ``masked_loss_mae(dist_mask=prob, reg_weight=1e-4, norm_by_mask=True)`` reduced by a mean."""
    p_hat = 1 / (1 + np.exp(-prob_logit))
    bce = -(prob_true * np.log(p_hat) + (1 - prob_true) * np.log(1 - p_hat))
    mask = prob_true  # (N, H, W, 1)
    actual = np.mean(mask * np.abs(dist_true - dist_pred), axis=-1)  # (N, H, W)
    reg = np.mean((1 - mask) * np.abs(dist_pred), axis=-1)
    dist_loss = actual / (np.mean(mask) + 1e-7) + 1e-4 * reg
    return np.mean(bce) + 0.2 * np.mean(dist_loss)


def test_loss_equals_stardist_definition():
    model = StarDist(n_rays=8, depth=1, width=4, feature_channels=8)
    labels = [SyntheticCells(size=32, length=2, seed=5)[i][1]["instances"] for i in range(2)]
    targets = default_collate([model.targets(lab) for lab in labels])
    assert targets["prob"].shape == (2, 1, 32, 32) and targets["dist"].shape == (2, 8, 32, 32)
    outputs = {"prob": torch.randn(2, 1, 32, 32, dtype=torch.float64),
               "dist": 3 * torch.randn(2, 8, 32, 32, dtype=torch.float64)}
    ours = model.loss(outputs, {k: v.double() for k, v in targets.items()})
    ch_last = [x.numpy().transpose(0, 2, 3, 1).astype(np.float64)
               for x in (outputs["prob"], outputs["dist"], targets["prob"], targets["dist"])]
    assert ours.item() == pytest.approx(_keras_loss(*ch_last), rel=1e-6)
    with pytest.raises(ValueError, match="shape"):
        stardist_loss(outputs, {"prob": targets["prob"][:1], "dist": targets["dist"]})


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    data = SyntheticCells(size=32, length=4, seed=2)
    model = StarDist(n_rays=8, depth=2, width=8, feature_channels=16)
    images = torch.stack([data[i][0] for i in range(4)])
    targets = default_collate([model.targets(data[i][1]["instances"]) for i in range(4)])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model.loss(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_post_processing_of_true_targets_gives_the_labels_back():
    """Perfect outputs (the targets themselves) through candidates > 0.5, NMS 0.4 and rendering."""
    for index in range(2):
        labels = SyntheticCells(size=128, length=2, seed=0)[index][1]["instances"]
        targets = StarDist(n_rays=32).targets(labels)
        predicted = StarDist.instances_from_maps(targets["prob"][0], targets["dist"])
        assert predicted.dtype == torch.int64 and predicted.shape == labels.shape
        assert set(np.unique(predicted.numpy())) == set(range(int(predicted.max()) + 1))  # 0..K
        assert matching(labels, predicted, thresh=0.5)["accuracy"] >= 0.95


def test_stardist_border_strip_loses_only_border_objects():
    """With StarDist's ``b = 2`` (``border=2``), the nuclei missed are ones cut by the image border
    whose confident (> 0.5) pixels lie within 2 pixels of it; no false positives appear."""
    labels = SyntheticCells(size=128, length=1, seed=0)[0][1]["instances"]
    targets = StarDist(n_rays=32).targets(labels)
    predicted = StarDist.instances_from_maps(targets["prob"][0], targets["dist"], border=2)
    result = matching(labels, predicted, thresh=0.5)
    assert result["fp"] == 0 and result["fn"] == 3
    found = set(np.unique(labels.numpy()[predicted.numpy() > 0]))
    prob = targets["prob"][0].numpy()
    for lost in set(np.unique(labels.numpy())) - found - {0}:
        confident = np.argwhere((labels.numpy() == lost) & (prob > 0.5))
        assert np.all((confident.min(axis=1) < 2) | (confident.max(axis=1) >= 126))


def test_predict_instances_runs_in_eval_mode():
    model = StarDist(n_rays=8, depth=1, width=4, feature_channels=8).train()
    with torch.no_grad():  # a bias that makes every pixel a confident candidate with 2-pixel rays
        model.prob_head.bias.fill_(5.0)
        model.prob_head.weight.zero_()
        model.dist_head.bias.fill_(2.0)
        model.dist_head.weight.zero_()
    seen = []  # the mode of the forward pass; the training mode comes back afterwards
    model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    result = model.predict_instances(torch.rand(2, 1, 16, 16), grid=2)
    assert seen == [False] and model.training and len(result) == 2
    assert all(r.shape == (16, 16) and r.dtype == torch.int64 and r.max() > 0 for r in result)


def test_targets_reject_bad_labels():
    model = StarDist(n_rays=8, depth=1, width=4, feature_channels=8)
    with pytest.raises(ValueError, match="2-D"):
        model.targets(torch.zeros(1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer"):
        model.targets(torch.zeros(8, 8))


def test_predict_instances_takes_its_grid_from_the_model():
    """As StarDist takes its config's grid: this model predicts every pixel, so its grid is 1 and
    every pixel above the threshold is a candidate; ``grid=2`` must be asked for."""
    model = StarDist(n_rays=8, depth=1, width=4, feature_channels=8)
    assert model.grid == 1
    images = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        outputs = model.eval()(images)
    prob, dist = torch.sigmoid(outputs["prob"][0, 0]), outputs["dist"][0]
    thresh = float(prob.median())  # about half of the pixels are candidates
    default = model.predict_instances(images, prob_thresh=thresh)[0]
    assert torch.equal(default,
                       StarDist.instances_from_maps(prob, dist, prob_thresh=thresh, grid=1))
    model.grid = 2
    assert torch.equal(model.predict_instances(images, prob_thresh=thresh)[0],
                       StarDist.instances_from_maps(prob, dist, prob_thresh=thresh, grid=2))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="grid"):
            model.predict_instances(images, grid=bad)
