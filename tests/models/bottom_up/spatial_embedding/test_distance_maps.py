"""Signed distance maps and centre offsets, against brute force, SciPy's EDT and
StarDist's ``edt_prob``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from segedu.data.synthetic_cells import SyntheticCells
from segedu.models.bottom_up.spatial_embedding import center_offsets, signed_distance_map


def _random_labels(seed: int, shape=(13, 17), n=5) -> np.ndarray:
    """Touching boxes and blobs with non-consecutive ids, some cut by the border."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, dtype=np.int64)
    ids = rng.choice(np.arange(1, 200), size=n, replace=False)
    for k in ids:
        r, c = rng.integers(-2, shape[0]), rng.integers(-2, shape[1])
        h, w = rng.integers(1, 7, size=2)
        lab[max(r, 0): r + h, max(c, 0): c + w] = k  # later objects overwrite (touch) earlier ones
    return lab


def _brute_force_sdm(lab: np.ndarray, normalise: bool, clip: float | None = None) -> np.ndarray:
    """Pixel by pixel, minimum distance over all pixels of the image (float64)."""
    h, w = lab.shape
    pts = np.indices((h, w)).reshape(2, -1).T.astype(np.float64)  # (P, 2)
    flat = lab.ravel()
    dist = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))  # (P, P)
    out = np.zeros(h * w)
    if not flat.any():
        return out.reshape(h, w)
    for i in range(h * w):
        if flat[i]:
            others = flat != flat[i]
            if others.any():
                out[i] = dist[i, others].min()
            else:  # the object fills the image: the nearest pixel outside the image
                r, c = pts[i]
                out[i] = min(r + 1, c + 1, h - r, w - c)
        elif flat.any():
            out[i] = -dist[i, flat > 0].min()
    if clip is not None:
        out = np.maximum(out, -clip)
    if normalise:
        for k in np.unique(flat[flat > 0]):
            out[flat == k] /= out[flat == k].max()
        if (flat == 0).any():
            out[flat == 0] /= clip if clip is not None else -out[flat == 0].min()
    return out.reshape(h, w)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("normalise", [True, False])
def test_sdm_equals_brute_force(seed, normalise):
    lab = _random_labels(seed)
    got = signed_distance_map(lab, normalise=normalise)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == lab.shape
    np.testing.assert_allclose(got, _brute_force_sdm(lab, normalise), rtol=1e-6, atol=1e-6)


def test_sdm_clip_equals_brute_force():
    lab = np.zeros((16, 18), dtype=np.int64)
    lab[2:5, 3:6] = 4
    for normalise in (True, False):
        got = signed_distance_map(lab, normalise=normalise, clip=3.5)
        np.testing.assert_allclose(got, _brute_force_sdm(lab, normalise, clip=3.5), rtol=1e-6,
                                   atol=1e-6)
    assert signed_distance_map(lab, normalise=True, clip=3.5).min() == -1.0


def test_sdm_against_scipy_edt_on_synthetic_cells():
    """Inside: per object, SciPy's EDT of ``lab == k`` over the whole image (no cropping); outside:
    minus the EDT of the background. Unnormalised, so the distances themselves are compared."""
    lab = SyntheticCells(size=128, length=1, seed=0)[0][1]["instances"].numpy()
    got = signed_distance_map(torch.from_numpy(lab), normalise=False)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    expected = -ndi.distance_transform_edt(lab == 0)
    for k in np.unique(lab[lab > 0]):
        expected[lab == k] = ndi.distance_transform_edt(lab == k)[lab == k]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_sdm_inside_equals_stardist_edt_prob():
    """The normalised inside part is StarDist's object probability (``edt / (max + 1e-10)``: the
    1e-10 is far below float32 resolution)."""
    from stardist import edt_prob

    for i in range(2):
        lab = SyntheticCells(size=128, length=2, seed=3)[i][1]["instances"].numpy()
        lab = lab[5:101, 0:90]  # objects cut by the border
        got = signed_distance_map(lab)
        np.testing.assert_allclose(np.clip(got, 0, None), edt_prob(lab), rtol=1e-6, atol=1e-7)
        assert got[lab == 0].max() < 0 and got[lab == 0].min() == -1.0


def test_sdm_edge_cases():
    # no object: all zeros
    assert np.all(signed_distance_map(np.zeros((5, 6), dtype=np.int32)) == 0)
    # one-pixel object: inside 1 (its 4 neighbours are outside), outside -distance
    lab = np.zeros((5, 5), dtype=np.int64)
    lab[2, 2] = 9
    raw = signed_distance_map(lab, normalise=False)
    assert raw[2, 2] == 1.0 and raw[0, 0] == pytest.approx(-np.sqrt(8))
    assert signed_distance_map(lab)[2, 2] == 1.0
    # one object filling the image: background assumed around it, as StarDist
    full = np.full((4, 6), 3)
    np.testing.assert_allclose(signed_distance_map(full, normalise=False),
                               _brute_force_sdm(full, False))
    from stardist import edt_prob

    with pytest.warns(UserWarning):
        np.testing.assert_allclose(signed_distance_map(full), edt_prob(full), rtol=1e-6)
    # two touching objects: the shared boundary is a boundary of both
    lab = np.zeros((3, 8), dtype=np.int64)
    lab[:, 1:4], lab[:, 4:7] = 1, 2
    raw = signed_distance_map(lab, normalise=False)
    assert raw[1, 3] == 1.0 and raw[1, 4] == 1.0 and raw[1, 2] == 2.0


def test_sdm_bad_input():
    with pytest.raises(TypeError, match="integer"):
        signed_distance_map(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="integer"):
        signed_distance_map(torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        signed_distance_map(np.zeros((1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=">= 0"):
        signed_distance_map(-np.ones((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="clip"):
        signed_distance_map(np.zeros((4, 4), dtype=np.int64), clip=0)
    with pytest.raises(TypeError, match="tensor or a NumPy"):
        signed_distance_map([[0, 1]])


def _brute_force_offsets(lab: np.ndarray) -> np.ndarray:
    out = np.zeros((2, *lab.shape))
    for k in np.unique(lab[lab > 0]):
        rows, cols = np.nonzero(lab == k)
        cy, cx = rows.mean(), cols.mean()
        for r, c in zip(rows, cols, strict=True):
            out[:, r, c] = (cx - c, cy - r)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_center_offsets_equal_brute_force(seed):
    lab = _random_labels(seed, shape=(20, 14), n=6)
    got = center_offsets(lab)
    assert got.dtype == np.float32 and got.shape == (2, 20, 14)
    np.testing.assert_allclose(got, _brute_force_offsets(lab), atol=1e-5)


def test_center_offsets_edge_cases_and_tensor_io():
    lab = SyntheticCells(size=64, length=1, seed=1)[0][1]["instances"]
    got = center_offsets(lab)
    assert isinstance(got, torch.Tensor) and got.shape == (2, 64, 64)
    np.testing.assert_allclose(got.numpy(), _brute_force_offsets(lab.numpy()), atol=1e-4)
    assert np.all(center_offsets(np.zeros((3, 4), dtype=np.int64)) == 0)  # no object
    one = np.zeros((3, 4), dtype=np.int64)
    one[1, 2] = 5
    assert np.all(center_offsets(one) == 0)  # a one-pixel object is its own centre
    with pytest.raises(TypeError, match="integer"):
        center_offsets(np.zeros((3, 4)))
