"""Temperature scaling (Guo et al. 2017) and test-time augmentation, the semantic family's two
wrappers: their definitions, a reference optimiser, and the family's contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segedu.models.semantic.temperature import TemperatureScaled, fit_temperature
from segedu.models.semantic.tta import TestTimeAugmentation


def _nll(logits, target, t):
    return float(F.cross_entropy(logits / t, target))


def _calibrated_sample(seed, *, true_temperature, n=20000, c=6):
    """Labels drawn from softmax(z); the network reports z * T0 (over-confident for T0 > 1)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    target = torch.multinomial(z.softmax(1), 1, generator=g)[:, 0]
    return z * true_temperature, target


def test_fit_finds_the_temperature_that_made_the_labels():
    logits, target = _calibrated_sample(0, true_temperature=3.0)
    t = fit_temperature(logits, target)
    assert t == pytest.approx(3.0, rel=0.05)  # 20,000 samples: a few % of sampling error
    under = fit_temperature(*_calibrated_sample(1, true_temperature=0.5))
    assert under == pytest.approx(0.5, rel=0.05)


def test_fit_equals_guo_et_al_lbfgs_and_is_the_minimum():
    """Guo et al.'s code: a temperature parameter fitted with L-BFGS on the NLL (here in float64
    and to convergence: in float32 L-BFGS stops at its gradient tolerance about 0.3 % short)."""
    logits, target = _calibrated_sample(2, true_temperature=2.0, n=5000)
    t = fit_temperature(logits.float(), target)
    temperature = nn.Parameter(torch.ones(1, dtype=torch.float64))
    optimizer = torch.optim.LBFGS([temperature], lr=1.0, max_iter=500, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / temperature, target)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert t == pytest.approx(temperature.item(), rel=1e-6)
    # the NLL is higher on both sides of the optimum
    assert _nll(logits, target, t) < min(_nll(logits, target, t * 1.01),
                                         _nll(logits, target, t / 1.01))


def test_fit_on_images_with_ignored_pixels():
    logits, target = _calibrated_sample(3, true_temperature=2.0, n=4 * 6 * 50)
    maps = logits.reshape(4, 6, 50, 6).permute(0, 3, 1, 2)  # (N, C, H, W)
    labels = target.reshape(4, 6, 50).clone()
    t = fit_temperature(maps, labels)
    assert t == pytest.approx(fit_temperature(logits, target), rel=1e-9)
    labels[0] = 255
    kept = fit_temperature(maps, labels, ignore_index=255)
    assert kept == pytest.approx(fit_temperature(maps[1:], labels[1:]), rel=1e-9)
    with pytest.raises(ValueError, match="no pixel"):
        fit_temperature(maps, torch.full_like(labels, 255), ignore_index=255)
    with pytest.raises(ValueError, match="outside"):
        fit_temperature(maps, labels + 7)
    with pytest.raises(ValueError, match="match"):
        fit_temperature(maps, labels[:, :2])


class _Conv(nn.Module):
    """A small semantic model that is neither flip- nor scale-invariant."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.ramp = nn.Parameter(torch.linspace(-1, 1, 4)[:, None, None])

    def forward(self, x):
        w = x.shape[-1]
        position = torch.linspace(0, 1, w)[None, None, None, :]  # depends on left/right
        return {"out": self.conv(x) + self.ramp * position}


def test_temperature_scaled_keeps_predictions_and_contract():
    model = _Conv()
    x = torch.rand(2, 3, 8, 8)
    scaled = TemperatureScaled(model, temperature=2.5)
    assert torch.allclose(scaled(x)["out"], model(x)["out"] / 2.5)
    assert torch.equal(scaled(x)["out"].argmax(1), model(x)["out"].argmax(1))
    with pytest.raises(ValueError, match="positive"):
        TemperatureScaled(model, temperature=0)


def test_tta_is_the_mean_of_the_copies_mapped_back():
    model = _Conv().eval()
    x = torch.rand(2, 3, 16, 12)
    with torch.no_grad():
        plain = model(x)["out"].softmax(1)
        flipped = model(x.flip(-1))["out"].flip(-1).softmax(1)
        small = F.interpolate(model(F.interpolate(x, size=(8, 6), mode="bilinear",
                                                  align_corners=False))["out"],
                              size=(16, 12), mode="bilinear", align_corners=False).softmax(1)
        small_flipped = F.interpolate(
            model(F.interpolate(x, size=(8, 6), mode="bilinear",
                                align_corners=False).flip(-1))["out"].flip(-1),
            size=(16, 12), mode="bilinear", align_corners=False).softmax(1)
        only_flip = TestTimeAugmentation(model, flips=(True,))(x)["out"]
        both = TestTimeAugmentation(model, flips=(False, True), scales=(1.0, 0.5),
                                    multiple=2)(x)["out"]
    assert not torch.allclose(plain, flipped, atol=1e-3)  # the flip matters for this model
    assert torch.allclose(only_flip.exp(), flipped, atol=1e-6)
    expected = (plain + flipped + small + small_flipped) / 4
    assert torch.allclose(both.exp(), expected, atol=1e-6)
    assert torch.allclose(both.exp().sum(1), torch.ones(2, 16, 12), atol=1e-6)


def test_tta_sizes_and_errors():
    model = _Conv()
    tta = TestTimeAugmentation(model, scales=(0.75, 1.25), multiple=16)
    assert tta(torch.rand(1, 3, 128, 128))["out"].shape == (1, 4, 128, 128)
    assert tta._size(128, 0.75) == 96 and tta._size(128, 1.25) == 160
    with pytest.raises(ValueError, match="flips"):
        TestTimeAugmentation(model, flips=())
    with pytest.raises(ValueError, match="scales"):
        TestTimeAugmentation(model, scales=(0.0,))
    with pytest.raises(ValueError, match="less than the model's multiple"):
        TestTimeAugmentation(model, scales=(0.05,), multiple=16)(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        tta(torch.rand(3, 64, 64))
