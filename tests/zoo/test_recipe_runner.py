"""The zoo's one recipe runner (segedu.zoo.recipe.run_recipe, segedu.engine.train_steps with its
resume file) reproduces, to the bit, the first steps of every family's recipe as it was trained
before the runner: the same loss at every step and the same weights (``torch.equal``), from the
same seed. The old loops are kept, only for this test, in ``recipe_loops_before.py``; both run
here on the same machine, so equality is exact, not up to a tolerance. (Numbers recorded on one
machine could not be pinned to the bit: float32 kernels differ between CPUs, the shipped SAM 2's
scores by up to 0.007 between an AVX2 and an AVX-512 CPU, its card says.)

Budget: 18 s of calls for the file on one CPU thread under a load of 8 on 2 cores, about 5 s
unloaded (tiny models, 2 or 3 steps each).
"""

from __future__ import annotations

import pytest
import torch

import segedu.engine.loop
from segedu.zoo import Task, ZooEntry, detection, dino, few_labels, instances, panoptic, sam
from segedu.zoo import clipseg as clipseg_recipe
from segedu.zoo import sam2 as sam2_recipe
from segedu.zoo.few_labels import methods as few_label_methods
from segedu.zoo.scores import scene_tensors

from . import recipe_loops_before as before

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def losses(monkeypatch):
    """The loss of every step that segedu.engine.train_steps takes, as the engine checks it."""
    seen, check = [], segedu.engine.loop.check_loss

    def recording(loss):
        loss = check(loss)
        seen.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(segedu.engine.loop, "check_loss", recording)
    return seen


def _same(old_model, new_model, old_losses, new_losses, steps):
    assert len(old_losses) == len(new_losses) == steps
    assert new_losses == old_losses  # every step's loss, exactly
    old, new = old_model.state_dict(), new_model.state_dict()
    assert old.keys() == new.keys()
    different = [k for k in old if not torch.equal(old[k], new[k])]
    assert not different, f"weights differ: {different[:5]}"


def _model(config):
    """``config``'s model, built as the recipe builds it (every generator seeded, then the
    model): the global random state the training then draws from (dropout) is the recipe's."""
    return config.start()[1]


def _eomt(out):
    tiny = dict(patch_size=16, dim=24, depth=3, num_heads=2, num_queries=6, num_blocks=2)
    entry = ZooEntry("eomt", tiny, lr=1e-3, steps=3, task=Task.SET_PREDICTION, batch=2)
    return panoptic.Mask2FormerConfig("eomt", entry=entry, scenes=6, num_points=64, warmup=1,
                                      out=out)


def _mask2former(out):
    entry = ZooEntry("mask2former", dict(num_queries=6), lr=1e-3, steps=3,
                     task=Task.SET_PREDICTION, batch=2)
    return panoptic.Mask2FormerConfig("mask2former", entry=entry, scenes=6, num_points=64,
                                      warmup=1, out=out)


def _dino(out):
    entry = ZooEntry("dino_vit_tiny", dict(depth=1), lr=1e-3, steps=3, task=Task.FEATURES,
                     batch=2)
    return dino.DinoConfig("dino_vit_tiny", entry=entry, steps=3, batch=2, scenes=3, out_dim=32,
                           hidden_dim=32, bottleneck_dim=16, out=out)


# family: (its tiny configuration in a folder, the loop before the runner, the recipe's training)
FAMILIES = {
    "sam": (lambda out: sam.SamConfig("sam_tiny", steps=2, batch=1, scenes=3, prompts=2,
                                      out=out), before.sam, sam.train_sam),
    "sam2": (lambda out: sam2_recipe.Sam2Config("sam2_slim", steps=2, batch=1, clips=2, frames=2,
                                                out=out), before.sam2, sam2_recipe.train_sam2),
    "clipseg": (lambda out: clipseg_recipe.ClipSegConfig("clipseg_tiny", steps=3, batch=2,
                                                         scenes=8, out=out),
                before.clipseg, clipseg_recipe.train_clipseg),
    "mask2former": (_mask2former, before.mask2former, panoptic.train_mask2former),
    "eomt": (_eomt, before.mask2former, panoptic.train_mask2former),
    "dino": (_dino, before.dino, dino.train_dino),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_the_runner_repeats_the_loop_before_it(losses, tmp_path, family):
    make_config, loop_before, train = FAMILIES[family]
    config = make_config(tmp_path)
    old = _model(config)
    expected = loop_before(old, config, CPU)
    new = _model(config)
    train(new, config, CPU, log=lambda _: None)
    _same(old, new, expected, losses, config.steps)


@pytest.mark.parametrize("name", ["yolact", "ssd300_vgg16", "panoptic_fpn"])
def test_detection(losses, tmp_path, name):
    """The instance, box-detection and panoptic families: one loop, train_detection's."""
    configs = {"yolact": instances.InstanceConfig, "ssd300_vgg16": detection.DetectionConfig,
               "panoptic_fpn": panoptic.PanopticFPNConfig}
    config = configs[name](name, steps=2, scenes=6, batch=2, warmup=1, out=tmp_path)
    old = _model(config)
    if name == "panoptic_fpn":
        scenes = panoptic.panoptic_scenes(seed=0, length=config.scenes, target=old.targets)
    else:
        scenes = instances.instance_scenes(seed=0, length=config.scenes,
                                           masks=name == "yolact")
    expected = before.detection(old, config, scenes, CPU)
    new = _model(config)
    instances.train_detection(new, config, scenes, CPU, log=lambda _: None)
    _same(old, new, expected, losses, 2)


def test_few_labels(losses, tmp_path):
    config = few_labels.FewLabelConfig("supervised", steps=2, scenes=24, labelled=0.25, batch=4,
                                       test_scenes=2, device="cpu", out=tmp_path,
                                       work=tmp_path / "work")
    images, labels = scene_tensors(seed=0, length=config.scenes)
    config.phase_dir.mkdir(parents=True)
    old = few_label_methods._unet(config.seed)
    expected = before.few_labels_supervised(old, config, images, labels.to(torch.uint8),
                                            config.labelled_count)
    new, _, _, _ = few_label_methods._supervised(config, images, labels.to(torch.uint8),
                                          config.labelled_count)
    _same(old, new, expected, losses, 2)
