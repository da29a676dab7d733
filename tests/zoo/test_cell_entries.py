"""The cell entries that train on other data than the nuclei: Omnipose and Cellpose on rods,
DenoiSeg and its baseline on noisy nuclei with few labels (segedu.zoo.cell_data)."""

import math

import pytest
import torch

import segedu.zoo
from segedu.data import SyntheticCells, SyntheticRods
from segedu.models import get_model
from segedu.zoo import DATA, ZOO, Task, ZooEntry, zoo_model
from segedu.zoo.cell_data import CELL_DATA, LABELLED, NOISE, cell_data
from segedu.zoo.cells import (
    CellConfig,
    cell_tensors,
    denoising_psnr,
    evaluate,
    evaluate_cells,
    held_out_cells,
    train,
    training_cells,
)
from segedu.zoo.check_scores import check_length
from segedu.zoo.train import recipe_for


def test_the_data_kinds_are_one_list_and_name_the_checkpoints():
    assert DATA[Task.CELLS] == tuple(CELL_DATA)
    # every checkpoint of an entry trained before keeps its path
    assert [ZOO[n].checkpoint.name for n in ("cellpose", "unet", "sam2_slim")] == [
        "cellpose_cells.pt", "unet_scenes.pt", "sam2_slim_videos.pt"]
    new = {n: ZOO[n].checkpoint.name for n in
           ("omnipose", "cellpose_rods", "denoiseg", "denoiseg_labels_only")}
    assert new == {"omnipose": "omnipose_rods.pt", "cellpose_rods": "cellpose_rods.pt",
                   "denoiseg": "denoiseg_noisy_cells.pt",
                   "denoiseg_labels_only": "denoiseg_noisy_cells_labelled.pt"}
    assert len({e.checkpoint for e in ZOO.values()}) == len(ZOO)  # no two entries share one
    with pytest.raises(ValueError, match="trains on 'cells', 'rods'"):
        ZooEntry("cellpose", task=Task.CELLS, data="scenes")
    with pytest.raises(ValueError, match="trains on 'scenes'"):
        ZooEntry("unet", data="rods")
    with pytest.raises(ValueError, match="the kinds are: cells, rods"):
        cell_data("bacteria")


def test_each_kind_draws_its_own_images():
    images, instances = cell_tensors(seed=0, length=2, size=32, data="rods")
    rods = SyntheticRods(size=32, length=2, seed=0)
    assert torch.equal(images[1], rods[1][0].as_subclass(torch.Tensor))
    assert torch.equal(instances[1], rods[1][1]["instances"].as_subclass(torch.Tensor))
    noisy, _ = cell_tensors(seed=0, length=1, size=32, data="noisy_cells")
    clean = SyntheticCells(size=32, length=1, seed=0)[0][0].as_subclass(torch.Tensor)
    assert 0.9 * NOISE < float((noisy[0] - clean).std()) < 1.1 * NOISE
    held_images, _ = held_out_cells(2, "rods")
    assert torch.equal(held_images, cell_tensors(seed=1, length=2, data="rods")[0])


def test_few_labels_the_rest_unlabelled_or_left_out():
    images, instances = training_cells("noisy_cells", 30)
    labelled = round(LABELLED * 30)  # 3
    assert len(images) == 30 and all(instances[i].any() for i in range(labelled))
    assert not instances[labelled:].any()
    alone, alone_instances = training_cells("noisy_cells_labelled", 30)
    assert torch.equal(alone, images[:labelled])
    assert torch.equal(alone_instances, instances[:labelled])
    # DenoiSeg reads an all-zero label image as unlabelled (-1), a labelled one as three classes
    model = get_model("denoiseg")
    assert (model.targets(instances[-1])["classes"] == -1).all()
    assert set(model.targets(instances[0])["classes"].unique().tolist()) == {0, 1, 2}


def test_a_model_without_a_self_supervised_term_refuses_the_unlabelled_images(tmp_path):
    entry = ZooEntry("cellpose", task=Task.CELLS, steps=1, batch=2, data="noisy_cells")
    with pytest.raises(ValueError, match="learns from labels only"):
        train(CellConfig(name="cellpose", entry=entry, images=4, test_images=1, out=tmp_path,
                         device="cpu"))


def test_every_entry_is_scored_on_its_own_held_out_kind():
    for name in ("omnipose", "cellpose_rods", "denoiseg", "denoiseg_labels_only", "cellpose"):
        assert recipe_for(name).evaluate.keywords == {"data": ZOO[name].data}
        assert check_length(name) == 10  # a tenth of its 100 held-out images

    # the rods' truth as prediction (one batch of 3) scores 1 on the rods' split, not the nuclei's
    rods = held_out_cells(3, "rods")[1]
    truth = lambda batch: list(rods[:len(batch)])  # noqa: E731
    assert evaluate_cells(truth, length=3, data="rods")["accuracy_90"] == 1.0
    assert evaluate_cells(truth, length=3, data="cells")["accuracy_50"] < 0.5


@pytest.mark.parametrize("name", ["omnipose", "cellpose_rods", "denoiseg"])
def test_a_short_run_writes_a_checkpoint_and_card_that_zoo_model_loads(name, tmp_path,
                                                                       monkeypatch):
    config = CellConfig(name=name, steps=2, batch=2, images=20, test_images=2, out=tmp_path,
                        device="cpu")
    model = train(config)
    card = config.card_path.read_text()
    assert config.checkpoint_path.name == ZOO[name].checkpoint.name
    assert f"data `{ZOO[name].data}`" in card and "| 0.5 |" in card
    monkeypatch.setattr(segedu.zoo, "FOLDER", tmp_path)  # the zoo's folder, for this test
    loaded = zoo_model(name)
    assert type(loaded) is type(model) and not loaded.training
    for key, value in model.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        torch.testing.assert_close(loaded.state_dict()[key], expected)


class _Identity(torch.nn.Module):
    def forward(self, images):
        return {"denoised": images}


def test_denoising_psnr_of_the_noise_alone_and_of_a_model():
    # Gaussian noise of sd 20/255 alone: 10 log10(1 / sd^2) = 20 log10(255 / 20) = 22.11 dB
    scores = denoising_psnr(_Identity(), length=4, data="noisy_cells")
    assert scores["psnr_noisy"] == pytest.approx(20 * math.log10(255 / 20), abs=0.05)
    assert scores["psnr_denoised"] == scores["psnr_noisy"]  # the identity removes nothing
    with pytest.raises(ValueError, match="no noise added"):
        denoising_psnr(_Identity(), length=2, data="rods")
    # DenoiSeg's scores carry the PSNR on noisy cells, its baseline's (alpha 0) do not
    assert "psnr_denoised" in evaluate(get_model("denoiseg"), length=2, data="noisy_cells")
    assert "psnr_denoised" not in evaluate(get_model("denoiseg", alpha=0.0), length=2,
                                           data="noisy_cells")
