"""evaluate: eval mode, no gradients, metrics reset and fed, the loss averaged over samples."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.engine import evaluate
from segedu.metrics import PixelAccuracy, pixel_accuracy

from .tiny_problem import DictTargets, TinySegNet, make_data


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinySegNet(dropout=0.5)


def test_results_equal_a_direct_computation(model):
    data = make_data(n=10, seed=2)
    loader = DataLoader(data, batch_size=4)  # batches of 4, 4 and 2: the loss is weighted by size
    results = evaluate(model, loader, metrics={"acc": PixelAccuracy()}, loss_fn=F.cross_entropy)
    model.eval()
    with torch.no_grad():
        logits = model(data.tensors[0])
    labels = data.tensors[1]
    assert results["acc"] == pytest.approx(float(pixel_accuracy(logits.argmax(1), labels, 3)))
    assert results["loss"] == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
    assert set(results) == {"acc", "loss"}


def test_mode_is_restored_and_no_gradient_is_kept(model):
    loader = DataLoader(make_data(n=8), batch_size=4)
    seen_modes = []
    model.register_forward_hook(lambda m, i, o: seen_modes.append((m.training, o.requires_grad)))
    model.train()
    evaluate(model, loader, metrics={})
    assert seen_modes == [(False, False)] * 2  # eval mode, no graph
    assert model.training
    model.eval()
    evaluate(model, loader, metrics={})
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_metrics_are_reset_first(model):
    loader = DataLoader(make_data(n=8), batch_size=4)
    metric = PixelAccuracy()
    first = evaluate(model, loader, metrics={"acc": metric})
    total_after_first = int(metric.total)
    second = evaluate(model, loader, metrics={"acc": metric})
    assert first == second
    assert int(metric.total) == total_after_first == 8 * 8 * 8


def test_prepare_adapts_outputs_and_targets(model):
    loader = DataLoader(DictTargets(make_data(n=8)), batch_size=4)
    plain = evaluate(model, DataLoader(make_data(n=8), batch_size=4),
                     metrics={"acc": PixelAccuracy()})
    prepared = evaluate(model, loader, metrics={"acc": PixelAccuracy()},
                        prepare=lambda out, t: (out, t["semantic"]))
    assert prepared == plain
    with pytest.raises(TypeError, match="target must be a tensor of class labels, got dict"):
        evaluate(model, loader, metrics={"acc": PixelAccuracy()})


def test_torchmetrics_objects_work_as_metrics(model):
    torchmetrics = pytest.importorskip("torchmetrics")
    loader = DataLoader(make_data(n=8), batch_size=4)
    ours = evaluate(model, loader, metrics={"acc": PixelAccuracy()})
    theirs = evaluate(model, loader, metrics={
        "acc": torchmetrics.classification.MulticlassAccuracy(num_classes=3, average="micro")
    })
    assert theirs["acc"] == pytest.approx(ours["acc"])


def test_bad_metrics_and_loaders_are_refused(model):
    loader = DataLoader(make_data(n=8), batch_size=4)
    with pytest.raises(TypeError, match=r"metric .acc. \(object\) has no reset\(\) method"):
        evaluate(model, loader, metrics={"acc": object()})
    with pytest.raises(TypeError, match="metrics must be a dict"):
        evaluate(model, loader, metrics=[PixelAccuracy()])
    with pytest.raises(ValueError, match="loader is empty"):
        evaluate(model, DataLoader(make_data(n=2), batch_size=4, drop_last=True), metrics={})

    class PerClass:
        def reset(self):
            pass

        def update(self, preds, targets):
            pass

        def compute(self):
            return torch.zeros(3)

    with pytest.raises(TypeError, match=r"metric 'iou' computed a tensor of shape \(3,\)"):
        evaluate(model, loader, metrics={"iou": PerClass()})


def test_amp_on_cpu_is_refused(model):
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        evaluate(model, DataLoader(make_data(n=4), batch_size=4), metrics={}, device="cpu",
                 amp=True)
