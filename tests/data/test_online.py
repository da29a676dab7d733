"""segedu.data.online: torchvision's Pets and VOC classes on fake files in their exact layout,
the one-line DownloadError without a network, and lab 04's online cell run end to end on fakes.

Nothing here reaches the network: every test that could download blocks ``socket.connect``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from segedu.data.datasets._io import CorruptFileError, DatasetNotFoundError
from segedu.data.download import DownloadError
from segedu.data.online import (
    DOWNLOAD_TIMEOUT,
    PETS_URLS,
    VOC_URLS,
    download_errors,
    pets_segmentation,
    voc_segmentation,
)
from segedu.data.sample import SampleError
from segedu.models import get_model
from tests.data.fake_datasets import (
    H,
    W,
    assert_started_from_resnet34_checkpoint,
    save_png,
    write_pets,
    write_resnet34_checkpoint,
    write_voc,
)
from tests.online_cells import one_line, solution_cells

ROOT = Path(__file__).resolve().parents[2]


def _nearest(labels: np.ndarray, size: int) -> torch.Tensor:
    """The painted labels resized to (size, size) by nearest neighbour (PyTorch's rule)."""
    x = torch.from_numpy(labels.astype(np.float32))[None, None]
    return F.interpolate(x, size=(size, size), mode="nearest")[0, 0].long()


def test_pets_trimaps_become_background_pet_and_void(tmp_path):
    expected = write_pets(tmp_path)
    data = pets_segmentation(tmp_path, split="trainval", size=16)
    assert len(data) == 2
    for index, name in enumerate(["Abyssinian_1", "american_bulldog_10"]):
        image, labels = data[index]
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert labels.shape == (16, 16) and labels.dtype == torch.int64
        assert torch.equal(labels, _nearest(expected[name]["semantic"], 16))
        colour = torch.tensor(expected[name]["color"], dtype=torch.float32) / 255
        assert torch.allclose(image.mean(dim=(1, 2)), colour, atol=0.03)  # solid JPEG colour
    test = pets_segmentation(tmp_path, split="test", size=8)
    assert len(test) == 1 and set(test[0][1].unique().tolist()) <= {0, 1, 255}


def test_pets_training_transform_moves_labels_with_the_image(tmp_path):
    write_pets(tmp_path)
    torch.manual_seed(0)
    data = pets_segmentation(tmp_path, size=32, train=True, normalize=True)
    for _ in range(5):
        image, labels = data[0]
        assert image.shape == (3, 32, 32) and labels.shape == (32, 32)
        assert set(labels.unique().tolist()) <= {0, 1, 255}  # nearest: no blended label values
    # normalised: the solid colour becomes (colour - mean) / std
    image, _ = pets_segmentation(tmp_path, size=16, normalize=True)[0]
    raw, _ = pets_segmentation(tmp_path, size=16)[0]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    assert torch.allclose(image, (raw - mean) / std, atol=1e-5)


def test_pets_missing_corrupt_and_wrong_values_name_the_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Oxford-IIIT Pet not found.*oxford-iiit-pet"):
        pets_segmentation(tmp_path / "nowhere")
    write_pets(tmp_path)
    base = tmp_path / "oxford-iiit-pet"
    (base / "images" / "Abyssinian_1.jpg").write_bytes(b"not a jpeg")
    trimap = np.full((H, W), 2, np.uint8)
    trimap[0, 0] = 7  # no trimap has a 7
    save_png(base / "annotations" / "trimaps" / "american_bulldog_10.png", trimap)
    data = pets_segmentation(tmp_path, size=16)
    with pytest.raises(CorruptFileError, match="Abyssinian_1.jpg"):
        data[0]
    with pytest.raises(SampleError, match="american_bulldog_10.png.*7"):
        data[1]
    (base / "annotations" / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="test.txt"):
        pets_segmentation(tmp_path, split="test")
    with pytest.raises(ValueError, match="split"):
        pets_segmentation(tmp_path, split="val")


def test_voc_keeps_classes_and_the_void_label(tmp_path):
    expected = write_voc(tmp_path)
    train = voc_segmentation(tmp_path, image_set="train", size=24)
    assert len(train) == 2
    image, labels = train[0]
    assert image.shape == (3, 24, 24)
    assert torch.equal(labels, _nearest(expected["2007_000001"]["semantic"], 24))
    assert {8, 15, 255} <= set(labels.unique().tolist())  # cat, person and the void band
    val = voc_segmentation(tmp_path, image_set="val", size=12)
    assert len(val) == 1 and set(val[0][1].unique().tolist()) == {0, 20}
    with pytest.raises(DatasetNotFoundError, match="VOC2012"):
        voc_segmentation(tmp_path / "nowhere")
    (tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="val.txt"):
        voc_segmentation(tmp_path, image_set="val")


def test_offline_downloads_fail_in_one_line_naming_the_url(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DownloadError) as pets:
        pets_segmentation(download=True)
    assert PETS_URLS[0] in one_line(pets.value) and "offline" in str(pets.value)
    with pytest.raises(DownloadError) as voc:
        voc_segmentation(download=True)
    assert VOC_URLS["2012"] in one_line(voc.value)
    url = torchvision.models.segmentation.FCN_ResNet50_Weights.DEFAULT.url
    with pytest.raises(DownloadError) as fcn:
        get_model("fcn_resnet50", weights="official")
    assert url in one_line(fcn.value) and "fcn_resnet50" in str(fcn.value)
    # every connection had a timeout: an unreachable server cannot hang a notebook
    assert no_network and set(no_network) == {DOWNLOAD_TIMEOUT}
    assert socket.getdefaulttimeout() is None  # restored afterwards


def test_download_errors_keeps_other_errors_and_reports_timeouts():
    with pytest.raises(KeyError), download_errors("x", ["https://example.invalid/x"]):
        raise KeyError("a bug is not a download error")
    with pytest.raises(DownloadError, match="example.invalid/x: timed out"), download_errors(
        "x", ["https://example.invalid/x"]
    ):
        raise TimeoutError("timed out")


@pytest.fixture
def lab04_online(online_lab):
    """Lab 04's import cell, its data cell and its online cell (``online_lab``: the cache in
    ``tmp_path``, which its callers fill or not)."""
    return compile(solution_cells("04_unet.ipynb", "lab04-02", "lab04-18", "lab04-online"),
                   "lab04", "exec")


def test_lab04_online_cell_trains_on_fake_pets(tmp_path, lab04_online, capsys):
    import matplotlib

    matplotlib.use("Agg")
    write_pets(tmp_path / "pets")
    write_resnet34_checkpoint(tmp_path)  # torchvision's ResNet-34 (random), marked
    namespace: dict = {}
    exec(lab04_online, namespace)
    out = capsys.readouterr().out
    assert "Data: Oxford-IIIT Pet" in out and "online mode: on" in out
    assert "Oxford-IIIT Pet test: IoU background" in out
    assert_started_from_resnet34_checkpoint(namespace["pet_model"].encoder)


def test_lab04_online_cell_offline_fails_inone_line(lab04_online, capsys):
    with pytest.raises(DownloadError) as error:
        exec(lab04_online, {})
    assert PETS_URLS[0] in one_line(error.value)


def test_lab04_online_cell_says_it_is_skipped_offline(lab04_online, monkeypatch, capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    namespace: dict = {}
    exec(lab04_online, namespace)
    assert namespace["pet_model"] is None
    assert "Offline (segedu.config.online() is false)" in capsys.readouterr().out


def test_jupyter_shows_a_download_error_asone_line():
    """IPython (the kernel of Jupyter and Colab) prints _render_traceback_, not a traceback."""
    cell = ("from segedu.data.download import DownloadError\n"
            "def fetch():\n"
            "    raise DownloadError(\n"
            "        'Could not download x from https://example.invalid/x: offline')\n"
            "fetch()\n")
    script = ("from IPython.core.interactiveshell import InteractiveShell\n"
              f"result = InteractiveShell.instance().run_cell({cell!r})\n"
              "assert type(result.error_in_exec).__name__ == 'DownloadError'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == ["DownloadError: Could not download x from https://example.invalid/x: offline"]


def test_voc_label_outside_its_classes_names_the_file(tmp_path):
    from tests.data.fake_datasets import save_palette_png

    write_voc(tmp_path)
    labels = np.zeros((H, W), np.uint8)
    labels[3, 4] = 50  # VOC has classes 0..20 and 255 only
    save_palette_png(tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000003.png",
                     labels)
    with pytest.raises(SampleError, match=r"2007_000003.png.*\[50\]"):
        voc_segmentation(tmp_path, image_set="val", size=8)[0]
