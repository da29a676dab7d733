"""The official-weights cells of chapters 03 (DINO ViT-S/16) and 16 (SAM ViT-B), without internet.

Each cell marked ``# official weights, online only`` is executed as the book runs it: online with
random weights saved under the official file name in a temporary cache (the real code path,
nothing downloaded), offline (one line, nothing loaded) and online with the network cut (one line
naming the URL). The figures come from :mod:`segedu.viz.official`, tested here on small models.
(Chapters 07, 09 and 11: tests/test_online_chapters.py.)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from segedu.data import skimage_photograph  # noqa: E402
from segedu.data.download import DownloadError  # noqa: E402
from segedu.models import get_model  # noqa: E402
from segedu.models.foundation.dino import patch_features, pca_rgb  # noqa: E402
from segedu.models.foundation.sam import SamPredictor  # noqa: E402
from segedu.models.foundation.sam.image_encoder import ImageEncoderViT  # noqa: E402
from segedu.models.registry import official_file, official_url  # noqa: E402
from segedu.viz.official import (  # noqa: E402
    dino_photographs,
    instances_photographs,
    sam_one_click,
    semantic_photographs,
    voc_val_example,
)
from tests.online_cells import online_cell  # noqa: E402

CHAPTERS = {
    "03_classical_segmentation.md": "dino_vits16",
    "16_segment_anything.md": "sam_vit_b",
}
PANELS = {"dino_vits16": 4 * 3, "sam_vit_b": 3}  # axes of each cell's figure


@pytest.fixture
def cheap_sam_encoder(monkeypatch):
    """SAM ViT-B's image encoder at 1024 x 1024 took 81 s on one loaded CPU core here; it is
    checked against segment-anything elsewhere (tests/models/foundation). For the cell's code
    path it is replaced by a fixed function of the image with the encoder's output shape
    (B, 256, 64, 64); everything else (loading, prompt encoder, mask decoder, figure) is real."""
    inputs = []
    projection = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))

    def encode(self, x):
        inputs.append(tuple(x.shape))
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 64)  # (B, 3, 64, 64)
        return torch.einsum("bchw,cd->bdhw", pooled, projection)

    monkeypatch.setattr(ImageEncoderViT, "forward", encode)
    return inputs


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_runs_on_cached_random_weights(chapter, name, chapter_env, monkeypatch,
                                                     capsys, cheap_sam_encoder):
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    torch.manual_seed(0)
    path = official_file(name)
    assert path.name == Path(official_url(name)).name  # the name in the publisher's URL
    path.parent.mkdir(parents=True)
    saved = get_model(name).state_dict()
    torch.save(saved, path)
    namespace: dict = {}
    exec(compile(online_cell(chapter), chapter, "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("Data: scikit-image") and "weights: official" in out
    assert "online mode: on" in out and "made with the official" in out
    assert chapter_env == []  # nothing tried to connect
    model = namespace["vits16" if name == "dino_vits16" else "official"]
    for key, value in model.state_dict().items():  # the cached file is what was loaded
        if value.is_floating_point():
            assert torch.equal(value, saved[key]), key
    assert len(plt.gcf().axes) == PANELS[name]
    if name == "sam_vit_b":
        assert cheap_sam_encoder == [(1, 3, 1024, 1024)]  # the photograph, resized and padded


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_offline_says_so_in_one_line(chapter, name, chapter_env, monkeypatch,
                                                   capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    namespace: dict = {}
    exec(compile(online_cell(chapter), chapter, "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("This page was built offline") and out.count("\n") == 1
    assert str(official_file(name)) in out and not official_file(name).exists()
    assert "vits16" not in namespace and "official" not in namespace and not plt.get_fignums()
    assert chapter_env == []


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_without_network_fails_in_one_line(chapter, name, chapter_env,
                                                         monkeypatch):
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    with pytest.raises(DownloadError) as error:
        exec(compile(online_cell(chapter), chapter, "exec"), {})
    message = str(error.value)
    assert "\n" not in message and official_url(name) in message and name in message
    assert chapter_env  # it did try, and failed at once


@pytest.mark.parametrize("name", ["dino_vits16", "sam_vit_b"])
def test_chapters_03_and_16_official_models_fail_in_one_line_offline(name, chapter_env,
                                                                    monkeypatch):
    """Chapters 03 (DINO) and 16 (SAM) load these through the same registry path."""
    with pytest.raises(DownloadError) as error:
        get_model(name, weights="official")
    message = str(error.value)
    assert "\n" not in message and official_url(name) in message and name in message
    assert chapter_env and not official_file(name).exists()  # nothing half-written is left


def test_dino_photographs_shows_each_photograph_and_its_tokens():
    torch.manual_seed(0)
    model = get_model("dino_vit_tiny").eval()
    names = ("chelsea", "coffee")
    size = 4 * model.patch_size  # a 4 x 4 grid of patches
    fig = dino_photographs(model, names, size=size, k=3, cosegments=2)
    axes = np.array(fig.axes).reshape(4, len(names))
    images = torch.stack([skimage_photograph(n, size=size) for n in names])
    with torch.no_grad():
        rgb = pca_rgb(patch_features(model, images))
    for j, name in enumerate(names):  # column j is photograph j, and one PCA for all of them
        assert name in axes[0, j].get_title()
        np.testing.assert_array_equal(axes[0, j].images[0].get_array(),
                                      images[j].permute(1, 2, 0).numpy())
        np.testing.assert_allclose(axes[1, j].images[0].get_array(), np.asarray(rgb[j]),
                                   rtol=0, atol=1e-6)
        for row, k in ((2, 3), (3, 2)):  # k-means and co-segmentation: k labels at most
            labels = np.asarray(axes[row, j].images[0].get_array())
            assert labels.shape == (size, size) and len(np.unique(labels)) <= k
    plt.close(fig)
    with pytest.raises(ValueError, match="non-empty sequence"):
        dino_photographs(model, "chelsea")
    with pytest.raises(ValueError, match="unknown scikit-image photograph"):
        dino_photographs(model, ("lena",), size=size)


def test_sam_one_click_titles_are_sams_scores():
    torch.manual_seed(0)
    model = get_model("sam_tiny").eval()
    fig = sam_one_click(model, "astronaut", click=(300, 330))
    photo = (skimage_photograph("astronaut").permute(1, 2, 0).numpy() * 255).round()
    from skimage import data

    np.testing.assert_array_equal(photo.astype(np.uint8), data.astronaut())  # same pixels
    predictor = SamPredictor(model)
    predictor.set_image(data.astronaut())
    masks, scores, _ = predictor.predict(point_coords=np.array([[300, 330]]),
                                         point_labels=np.array([1]))
    assert [ax.get_title() for ax in fig.axes] == [f"predicted IoU {s:.2f}" for s in scores]
    assert len(fig.axes) == len(masks) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        sam_one_click(model, "astronaut", click=(512, 10))
    with pytest.raises(ValueError, match="grey"):
        sam_one_click(model, "camera")


class ConstantClass(torch.nn.Module):
    """A stand-in for a torchvision segmentation model: class ``k`` everywhere, and records the
    inputs it is given."""

    def __init__(self, k: int, num_classes: int = 21) -> None:
        super().__init__()
        self.k, self.num_classes, self.inputs = k, num_classes, []

    def forward(self, x):
        self.inputs.append(x)
        out = torch.zeros(x.shape[0], self.num_classes, *x.shape[2:])
        out[:, self.k] = 1.0
        return {"out": out}


def test_voc_val_example_reads_voc_only_when_it_is_there(tmp_path, monkeypatch):
    from segedu.data.datasets import DatasetNotFoundError
    from tests.data.fake_datasets import write_voc

    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    assert voc_val_example() is None  # no VOC: nothing read, nothing downloaded
    expected = write_voc(tmp_path / "voc")  # $SEGEDU_CACHE/voc is the default root
    title, image, labels, masks, classes = voc_val_example()
    assert title == "VOC 2012 val 2007_000003"  # the only val image of the fake layout
    truth = expected["2007_000003"]["semantic"]
    assert classes == ("tvmonitor",) and masks.dtype == torch.bool
    np.testing.assert_array_equal(masks.numpy(), (truth == 20)[None])  # its one object
    assert image.shape == (3, 24, 32) and image.dtype == torch.float32
    assert type(labels) is torch.Tensor and labels.dtype == torch.int64
    np.testing.assert_array_equal(labels.numpy(), truth)
    colour = np.array(expected["2007_000003"]["color"]) / 255
    assert np.abs(image.mean(dim=(1, 2)).numpy() - colour).max() < 0.03  # that JPEG was read
    with pytest.raises(IndexError, match="outside VOC 2012 val"):
        voc_val_example(1)
    for jpeg in (tmp_path / "voc" / "VOCdevkit" / "VOC2012" / "JPEGImages").iterdir():
        jpeg.unlink()
    (tmp_path / "voc" / "VOCdevkit" / "VOC2012" / "JPEGImages").rmdir()
    with pytest.raises(DatasetNotFoundError, match="incomplete"):  # an error, not None
        voc_val_example()


@pytest.mark.parametrize("k, names", [(0, "background only"), (15, "person"), (20, "tvmonitor")])
def test_semantic_photographs_titles_and_voc_accuracy(k, names, tmp_path):
    from torchvision.models.segmentation import FCN_ResNet50_Weights

    from tests.data.fake_datasets import write_voc

    write_voc(tmp_path)
    voc = voc_val_example(root=tmp_path)  # 24 x 32, a 6 x 6 tvmonitor (20), no void
    weights = FCN_ResNet50_Weights.DEFAULT
    model = ConstantClass(k)
    fig = semantic_photographs(model, weights, ["chelsea"], resize_size=24, voc=voc)
    chelsea = weights.transforms(resize_size=24)(skimage_photograph("chelsea"))  # torchvision's
    torch.testing.assert_close(model.inputs[0][0], chelsea, rtol=0, atol=0)
    assert model.inputs[1].shape == (1, 3, 24, 32)  # the VOC image, shorter side already 24
    accuracy = {0: 1 - 36 / (24 * 32), 15: 0.0, 20: 36 / (24 * 32)}[k]  # no person in truth
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"chelsea: {names}",
                      f"VOC 2012 val 2007_000003: {names}\npixel accuracy {accuracy:.1%} "
                      "(void excluded)",
                      "ground truth: tvmonitor"]
    plt.close(fig)
    with pytest.raises(ValueError, match="voc: expected image"):
        semantic_photographs(model, weights, ["chelsea"], voc=voc._replace(labels=voc.labels[:-1]))


@pytest.mark.parametrize("chapter, name, truth", [
    ("07_fcn.md", "fcn_resnet50", "ground truth: tvmonitor"),
    ("09_context.md", "deeplabv3_resnet50", "ground truth: tvmonitor"),
    ("11_instance_segmentation.md", "maskrcnn_resnet50_fpn", "annotated: tvmonitor"),
])
def test_cell_adds_the_voc_image_when_voc_is_cached(chapter, name, truth, chapter_env,
                                                    monkeypatch, capsys, tmp_path):
    from tests.data.fake_datasets import write_voc

    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    write_voc(tmp_path / "voc")  # tmp_path is $SEGEDU_CACHE (chapter_env)
    official_file(name).parent.mkdir(parents=True)
    torch.save(get_model(name).state_dict(), official_file(name))
    exec(compile(online_cell(chapter), chapter, "exec"), {})
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("Data: scikit-image photographs (astronaut, chelsea, coffee) and "
                            "VOC 2012 val 2007_000003 | weights: torchvision's official")
    assert first.endswith("online mode: on (real data and official weights may be downloaded)")
    titles = [ax.get_title() for ax in plt.gcf().axes]  # fast mode: chelsea, VOC, its truth
    assert len(titles) == 3 and titles[1].startswith("VOC 2012 val 2007_000003: ")
    assert titles[2] == truth and chapter_env == []


class FixedDetector(torch.nn.Module):
    """A stand-in for Mask R-CNN: on every image, a cat (COCO 17) at 0.9 whose soft mask is 0.8
    on the top half, and a person (1) at 0.5 on the bottom half."""

    def forward(self, images):
        found = []
        for image in images:
            h, w = image.shape[1:]
            masks = torch.zeros(2, 1, h, w)
            masks[0, 0, : h // 2], masks[1, 0, h // 2:] = 0.8, 0.8
            found.append({"masks": masks, "labels": torch.tensor([17, 1]),
                          "scores": torch.tensor([0.9, 0.5]), "boxes": torch.zeros(2, 4)})
        return found


def test_instances_photographs_keeps_detections_above_the_threshold(tmp_path):
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    from segedu.viz import overlay_instances
    from tests.data.fake_datasets import write_voc

    categories = MaskRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]
    assert categories[17] == "cat" and categories[1] == "person"
    write_voc(tmp_path)
    voc = voc_val_example(root=tmp_path)
    fig = instances_photographs(FixedDetector(), categories, ["chelsea"], threshold=0.7, voc=voc)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["chelsea: cat 0.90", "VOC 2012 val 2007_000003: cat 0.90",
                      "annotated: tvmonitor"]
    photo = skimage_photograph("chelsea")
    top = torch.zeros(1, *photo.shape[1:], dtype=torch.bool)
    top[0, : photo.shape[1] // 2] = True  # the cat's mask cut at 0.5, alone above 0.7
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), overlay_instances(photo, top))
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(),
                                  overlay_instances(voc.image, voc.masks))
    plt.close(fig)
    fig = instances_photographs(FixedDetector(), categories, ["chelsea"], threshold=0.4)
    assert [ax.get_title() for ax in fig.axes] == ["chelsea: cat 0.90, person 0.50"]
    plt.close(fig)
    fig = instances_photographs(FixedDetector(), categories, ["chelsea"], threshold=0.95)
    assert [ax.get_title() for ax in fig.axes] == ["chelsea: no detection above 0.95"]
    plt.close(fig)
    with pytest.raises(ValueError, match="threshold"):
        instances_photographs(FixedDetector(), categories, ["chelsea"], threshold=1.5)
