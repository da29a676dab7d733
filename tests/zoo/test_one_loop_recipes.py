"""The recipes that trained outside the runner now go through it (segedu.zoo.recipe.run_recipe on
segedu.engine.train_steps, the one loop): the semantic and cell recipes, which trained through
the old ``fit``, and the few-label runs, whose phases called the old ``train_steps`` by hand.
Against their training as it was (``one_loop_before.py``, on the copies of the old loops in
``tests/engine/loops_before``): the same loss at every step and the same weights, bit for bit.
A semantic or cell run that the old ``fit`` stopped (its ``last.pt`` in the run's
``resume/`` folder, where ``python -m segedu.zoo.seeds`` kept it) goes on in the new recipe to
the weights of a run that never stopped, as does a run the new loop stopped. (The other
families: ``test_recipe_runner.py``.)

Budget: about 6 s for the file on one CPU thread (tiny runs: 3 steps of 4 scenes or images).
"""

from __future__ import annotations

import pytest

import segedu.engine.loop
from segedu.engine import load_checkpoint
from segedu.zoo import cells, few_labels, semantic
from segedu.zoo import recipe as zoo_recipe
from segedu.zoo.few_labels import recipe as few_label_recipe
from segedu.zoo.train import config_for
from tests.engine.loops_before import step as step_before
from tests.engine.loops_before import steps as steps_before

from . import one_loop_before as before
from .test_recipe_runner import _same, one_thread  # noqa: F401 (one_thread: a fixture)


@pytest.fixture
def losses(monkeypatch):
    """The loss of every training step as the loops check it: ``(new, old)``, the one loop's and
    the old loops' (the old fit's step, the old train_steps)."""
    new, old = [], []
    for module, seen in ((segedu.engine.loop, new), (step_before, old), (steps_before, old)):
        def recording(loss, check=module.check_loss, seen=seen):
            loss = check(loss)
            seen.append(float(loss.detach()))
            return loss

        monkeypatch.setattr(module, "check_loss", recording)
    return new, old


TINY = {"unet": dict(steps=3, batch=2, scenes=4, test_scenes=1),
        "unet_weight_map": dict(steps=3, batch=2, images=4, test_images=1)}
BEFORE = {"unet": before.semantic, "unet_weight_map": before.cells}
# the recipes' training, as run_recipe calls it after config.start() (its score and card are
# the recipes' own, tested in test_zoo.py and tests/zoo/test_cells.py)
AFTER = {"unet": semantic.train_semantic, "unet_weight_map": cells.train_cells}


def _config(name, out, **settings):
    return config_for(name, out=out, device="cpu", **TINY[name], **settings)


def _train(name, config):
    """The model that ``recipe_for(name).train(config)`` trains (score and card left out)."""
    device, model = config.start()
    AFTER[name](model, config, device)
    return model


@pytest.mark.parametrize("name", ["unet", "unet_weight_map"])
def test_the_fit_recipes_repeat_their_training_before(losses, tmp_path, name):
    new_losses, old_losses = losses
    config = _config(name, tmp_path / "old")
    device, old = config.start()
    BEFORE[name](old, config, device)
    new = _train(name, _config(name, tmp_path / "new"))
    _same(old, new, old_losses, new_losses, 3)
    assert not list((tmp_path / "new").glob("*_resume.pt"))  # removed at the end


def test_the_few_label_runs_repeat_their_phases_before(losses, tmp_path):
    """The mean teacher (the network kept is the teacher, kept in the phase's file beside the
    student): the phase of the old loop, then run_recipe's. (Its supervised run, without a
    teacher: test_recipe_runner.py.)"""
    new_losses, old_losses = losses

    def config(folder):
        return few_labels.FewLabelConfig("mean_teacher", steps=2, scenes=24, labelled=0.25,
                                         batch=4, test_scenes=1, device="cpu", out=folder,
                                         work=folder / "work")

    old = before.few_labels(config(tmp_path / "old"))
    new_config = config(tmp_path / "new")
    device, new = new_config.start()  # what few_labels.train does, its score and card left out
    few_label_recipe.train_method(new, new_config, device)
    _same(old, new, old_losses, new_losses, 2)


class _Stop(Exception):
    """Stands for the process dying."""


@pytest.mark.parametrize(("name", "stopped_by"), [("unet", "old fit"), ("unet", "one loop"),
                                                  ("unet_weight_map", "old fit")])
def test_a_stopped_run_goes_on_to_the_uninterrupted_weights(tmp_path, interrupt_training,
                                                            name, stopped_by):
    """Stopped after 2 of 3 steps, by the old fit (``resume/last.pt`` in the old layout) or by
    the one loop (``<model>_resume.pt``); started again, the recipe goes on from the file."""
    whole = _train(name, _config(name, tmp_path / "whole"))
    run, resume_dir = tmp_path / "run", tmp_path / "run" / "resume"
    config = _config(name, run, resume_dir=resume_dir, save_every=1)
    if stopped_by == "old fit":
        device, model = config.start()
        calls = []

        def stopping(outputs, targets):
            calls.append(1)
            if len(calls) == 3:
                raise _Stop
            return (before.zoo_loss if name == "unet" else model.loss)(outputs, targets)

        with pytest.raises(_Stop):
            BEFORE[name](model, config, device, loss_fn=stopping, checkpoint_every=1)
        assert load_checkpoint(resume_dir / "last.pt")["position"]["step"] == 2
    else:
        interrupted = interrupt_training(zoo_recipe, after=1)
        with pytest.raises(KeyboardInterrupt):
            _train(name, config)
        interrupted.undo()
        assert load_checkpoint(config.resume_path)["step"] == 2
    resumed = _train(name, _config(name, run, resume_dir=resume_dir, save_every=1))
    _same(whole, resumed, [], [], 0)
    assert not config.resume_path.exists() and not (resume_dir / "last.pt").exists()
