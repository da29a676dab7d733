"""segedu.data.real_images: the DSB 2018 nuclei of stardist and scikit-image's photographs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data
import torch
from skimage.segmentation import relabel_sequential
from skimage.transform import resize

from segedu.data import SKIMAGE_PHOTOGRAPHS, dsb2018_nuclei, skimage_photograph


def test_dsb2018_nuclei_is_stardists_image_normalised_as_csbdeep_does():
    stardist_data = pytest.importorskip("stardist.data")
    from csbdeep.utils import normalize

    raw, mask = stardist_data.test_image_nuclei_2d(return_mask=True)
    image, instances = dsb2018_nuclei()
    assert image.shape == (1, *raw.shape) and image.dtype == torch.float32
    assert instances.shape == raw.shape and instances.dtype == torch.int64
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    # StarDist's own normalisation (csbdeep), clipped: percentiles 1 and 99.8 to 0 and 1
    expected = normalize(raw, 1, 99.8, clip=True, eps=0)
    np.testing.assert_allclose(image[0].numpy(), expected, atol=1e-6)
    # the same partition as the file's labels, numbered 1..N in the same order (relabel_sequential)
    np.testing.assert_array_equal(instances.numpy(), relabel_sequential(mask.astype(np.int64))[0])
    n = len(np.unique(mask)) - 1
    assert int(instances.max()) == n and len(torch.unique(instances)) == n + 1


def test_dsb2018_nuclei_other_percentiles_and_bad_ones():
    pytest.importorskip("stardist.data")
    image, _ = dsb2018_nuclei(percentiles=(0, 100))
    assert float(image.min()) == 0 and float(image.max()) == 1  # min-max scaling: both ends reached
    for bad in ((50, 50), (-1, 99), (1, 101), (1,)):
        with pytest.raises(ValueError, match="percentiles"):
            dsb2018_nuclei(percentiles=bad)


@pytest.mark.parametrize("missing", ["stardist.data", "tifffile"])
def test_dsb2018_nuclei_names_the_missing_package(monkeypatch, missing):
    # a None entry in sys.modules makes `import missing` raise ModuleNotFoundError, as if
    # not installed
    monkeypatch.setitem(sys.modules, missing, None)
    package = missing.split(".")[0]
    with pytest.raises(ImportError, match=rf"needs the package '{package}'.*pip install {package}"):
        dsb2018_nuclei()


def test_skimage_photograph_equals_skimage_data():
    coffee = skimage_photograph("coffee")
    reference = skimage.data.coffee()
    assert coffee.shape == (3, *reference.shape[:2]) and coffee.dtype == torch.float32
    np.testing.assert_allclose(coffee.permute(1, 2, 0).numpy(), reference / 255.0, atol=1e-7)
    coins = skimage_photograph("coins")  # grey: one channel
    assert coins.shape == (1, *skimage.data.coins().shape)
    np.testing.assert_allclose(coins[0].numpy(), skimage.data.coins() / 255.0, atol=1e-7)


def test_skimage_photograph_resized_and_bad_names():
    small = skimage_photograph("chelsea", size=(64, 96))
    expected = resize(skimage.data.chelsea() / 255.0, (64, 96, 3), anti_aliasing=True)
    assert small.shape == (3, 64, 96)
    np.testing.assert_allclose(small.permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert skimage_photograph("camera", size=32).shape == (1, 32, 32)
    with pytest.raises(ValueError, match="unknown scikit-image photograph 'lena'"):
        skimage_photograph("lena")
    with pytest.raises(ValueError, match="size"):
        skimage_photograph("camera", size=(0, 4))


def test_every_listed_photograph_ships_with_scikit_image():
    # each listed image loads offline (they are in scikit-image's wheel) and matches its description
    for name, description in SKIMAGE_PHOTOGRAPHS.items():
        image = skimage_photograph(name)
        channels = 3 if "RGB" in description else 1
        assert image.shape[0] == channels, name
        assert f"{image.shape[1]} x {image.shape[2]}" in description, name


def test_chapter_13_names_cellposes_own_default_percentiles():
    """Chapter 13 gives Cellpose's normalisation as the defaults of its normalize99 (1 and 99),
    not the 1 and 99.8 of StarDist's examples."""
    import inspect
    from pathlib import Path

    cellpose_transforms = pytest.importorskip("cellpose.transforms")
    defaults = inspect.signature(cellpose_transforms.normalize99).parameters
    low, high = defaults["lower"].default, defaults["upper"].default
    chapter = Path(__file__).resolve().parents[2] / "course" / "13_microscopy_medical.md"
    text = " ".join(chapter.read_text(encoding="utf8").split())
    assert (f"percentiles {low} and {high} in Cellpose (the defaults of its `normalize99`)"
            in text), f"chapter 13 should give Cellpose's normalize99 defaults, {low} and {high}"
