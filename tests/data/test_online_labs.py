"""The online branches of labs 01, 02, 03, 06 and 07, run without a network.

Lab 01's branch trains on torchvision's ``VOCSegmentation`` read from fake files in its exact
layout (``tests.data.fake_datasets.write_voc``) with a random ResNet-34 saved under the file name
of torchvision's ImageNet weights; with the network cut it fails in one line naming the URL;
offline it says so in one line. Labs 02, 03, 06 and 07 keep their synthetic data: their online
cell says so in one line and reaches for no network.
"""

from __future__ import annotations

import pytest
import torch

from segedu.data.download import DownloadError
from segedu.data.online import VOC_URLS
from tests.data.fake_datasets import (
    assert_started_from_resnet34_checkpoint,
    write_resnet34_checkpoint,
    write_voc,
)
from tests.online_cells import one_line, solution_cells

# lab 01: its imports, the functions the students write (solutions here), the synthetic run of
# section 7 (fast mode: a few steps per loss) that fills `losses` and `results`, then the branch
LAB01 = ("lab01-02", "lab01-04", "lab01-08", "lab01-12", "lab01-16", "lab01-train-04",
         "lab01-24", "lab01-25", "lab01-online")


@pytest.fixture
def lab01_online(online_lab):
    source = ("from segedu.config import pick, seed_everything\n"  # as lab01-train-08 does
              + solution_cells("01_losses.ipynb", *LAB01))
    return compile(source, "lab01", "exec")


@pytest.fixture
def fake_voc_cache(tmp_path):
    """$SEGEDU_CACHE (``tmp_path``) as lab 01's cell finds it after its downloads: the fake VOC
    layout under ``voc/`` and a marked random ResNet-34 under its ImageNet file name."""
    write_voc(tmp_path / "voc")
    write_resnet34_checkpoint(tmp_path)
    return tmp_path


def test_lab01_online_cell_compares_the_losses_on_fake_voc(fake_voc_cache, lab01_online, capsys):
    namespace: dict = {}
    exec(lab01_online, namespace)
    out = capsys.readouterr().out
    assert "Data: PASCAL VOC 2012" in out and "online mode: on" in out
    # the fake train split has background, aeroplane, person and cat only (void left out)
    rarest = next(line for line in out.splitlines() if line.startswith("background: "))
    names = [part.rsplit(" ", 2)[0] for part in rarest.split("rarest: ")[1].split(", ")]
    assert sorted(names) == ["aeroplane", "background", "cat", "person"], rarest
    assert set(namespace["voc_results"]) == set(namespace["results"]) == {
        "CE", "weighted CE", "CE + Dice", "focal"}
    for name, iou in namespace["voc_results"].items():
        assert f"{name:>12}: VOC val mIoU" in out
        assert iou.shape == (21,)
        # fake val image: background and tv/monitor only; the other classes are NaN or 0
        assert not torch.isnan(iou[0]) and not torch.isnan(iou[20])
    assert_started_from_resnet34_checkpoint(namespace["voc_model"].encoder)  # the last one
    # weighted CE used VOC's weights: 0 for the classes absent from the fake train split
    weight = namespace["voc_weight"].cpu()
    assert weight[[0, 1, 8, 15]].gt(0).all() and weight[2] == 0


def test_lab01_online_cell_trains_the_losses_that_passed(fake_voc_cache, online_lab, capsys):
    """A student whose inverse_frequency is still blank: no weighted CE, the others train."""
    blank = "def inverse_frequency(target, num_classes):\n    raise NotImplementedError\n"
    source = ("from segedu.config import pick, seed_everything\n"
              + solution_cells("01_losses.ipynb", *LAB01[:6]) + "\n" + blank
              + solution_cells("01_losses.ipynb", *LAB01[6:]))
    namespace: dict = {}
    exec(compile(source, "lab01", "exec"), namespace)
    assert set(namespace["voc_results"]) == {"CE", "CE + Dice", "focal"}
    assert namespace["voc_weight"] is None
    assert "finish `inverse_frequency` (section 2)" in capsys.readouterr().out


def test_lab01_online_cell_offline_fails_inone_line(lab01_online, capsys):
    with pytest.raises(DownloadError) as error:
        exec(lab01_online, {})
    assert VOC_URLS["2012"] in one_line(error.value)


def test_lab01_online_cell_says_it_is_skipped_offline(lab01_online, monkeypatch, capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    namespace: dict = {}
    exec(lab01_online, namespace)
    assert namespace["voc_results"] == {}
    assert "Offline (segedu.config.online() is false)" in capsys.readouterr().out


@pytest.mark.parametrize("notebook, cell, data, reason", [
    ("02_conv_arithmetic.ipynb", "lab02-online", "synthetic scenes", "cannot learn PASCAL VOC"),
    ("03_metrics.ipynb", "lab03-online", "synthetic scenes", "panoptic ground truth"),
    ("06_cells.ipynb", "lab06-online", "synthetic nuclei", "stardist bundles"),
    ("07_panoptic.ipynb", "lab07-online", "synthetic scenes", "COCO-panoptic"),
])
def test_labs_without_real_data_say_so_in_one_line_online(notebook, cell, data, reason,
                                                          monkeypatch, capsys, no_network):
    code = compile(solution_cells(notebook, cell), cell, "exec")
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    exec(code, {})
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"keeps the {data}" in out and reason in out, out
    assert no_network == []  # nothing was fetched
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    exec(code, {})
    assert capsys.readouterr().out == ""  # offline: the cell adds nothing to the lab's output
