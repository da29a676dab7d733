"""Smooth and white noise fields used by the synthetic generators."""

import numpy as np
import pytest

from segedu.data.synthetic_noise import smooth_noise, white_noise


def test_smooth_noise_is_standard_normal_at_every_pixel():
    rng = np.random.default_rng(0)
    fields = np.stack([smooth_noise(rng, (24, 40), 5.0) for _ in range(400)])  # (400, 24, 40)
    assert fields.dtype == np.float32 and fields.shape == (400, 24, 40)
    assert abs(fields.mean()) < 0.05
    std = fields.std(axis=0)
    assert 0.85 < std.min() and std.max() < 1.15  # unit variance everywhere, borders included


@pytest.mark.parametrize("scale", [2.0, 4.0, 16.0])
def test_smooth_noise_correlation_follows_scale(scale):
    # pixels d apart have correlation exp(-d^2 / (4 scale^2))
    rng = np.random.default_rng(1)
    f = np.stack([smooth_noise(rng, (64, 64), scale) for _ in range(50)])
    for d in (1, 4, 8):
        measured = np.corrcoef(f[:, :, :-d].ravel(), f[:, :, d:].ravel())[0, 1]
        assert abs(measured - np.exp(-(d**2) / (4 * scale**2))) < 0.05


def test_smooth_noise_stretched_and_bad_arguments():
    f = smooth_noise(np.random.default_rng(2), (32, 48), (2.0, 20.0))
    # wide features: neighbours along x alike, along y not
    along_x = np.corrcoef(f[:, :-3].ravel(), f[:, 3:].ravel())[0, 1]
    along_y = np.corrcoef(f[:-3].ravel(), f[3:].ravel())[0, 1]
    assert along_x > 0.8 > along_y
    with pytest.raises(ValueError, match="scale"):
        smooth_noise(np.random.default_rng(0), (8, 8), 0)
    with pytest.raises(ValueError, match="shape"):
        smooth_noise(np.random.default_rng(0), (0, 8), 2.0)


def test_white_noise_has_mean_0_and_variance_1():
    n = white_noise(np.random.default_rng(3), (300, 300))
    assert n.dtype == np.float32 and n.shape == (300, 300)
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
