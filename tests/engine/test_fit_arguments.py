"""fit refuses a wrong call at once, with a message that says what to change."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from segedu.engine import fit
from segedu.metrics import PixelAccuracy

from .tiny_problem import TinySegNet, make_data


@pytest.fixture
def parts():
    torch.manual_seed(0)
    model = TinySegNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(make_data(n=8), batch_size=4, shuffle=True)
    return model, optimizer, loader


def call(parts, *, model=None, loader=None, **overrides):
    """fit on the fixture's model and loader, with some arguments changed."""
    default_model, optimizer, default_loader = parts
    kwargs = dict(loss_fn=F.cross_entropy, optimizer=optimizer, epochs=1,
                  progress=False) | overrides
    return fit(default_model if model is None else model,
               default_loader if loader is None else loader, **kwargs)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (dict(epochs=None), ValueError, "epochs=.*max_steps="),
        (dict(epochs=0), ValueError, "epochs must be a positive integer, got 0"),
        (dict(epochs=-2), ValueError, "epochs must be a positive integer, got -2"),
        (dict(epochs=1.5), ValueError, "epochs must be a positive integer"),
        (dict(epochs=True), ValueError, "epochs must be a positive integer"),
        (dict(max_steps=-1), ValueError, "max_steps must be a positive integer, got -1"),
        (dict(log_every=0), ValueError, "log_every must be a positive integer"),
        (dict(checkpoint_every=0, checkpoint_dir="x"), ValueError, "checkpoint_every must be"),
        (dict(checkpoint_every=5), ValueError, "checkpoint_every needs checkpoint_dir"),
        (dict(grad_clip=-1.0), ValueError, "grad_clip must be a positive number"),
        (dict(grad_clip="1"), ValueError, "grad_clip must be a positive number"),
        (dict(metrics={"acc": PixelAccuracy()}), ValueError, "pass val_loader"),
        (dict(loss_fn="cross_entropy"), TypeError, "loss_fn must be callable"),
        (dict(optimizer="sgd"), TypeError, "optimizer must be a torch.optim.Optimizer"),
        (dict(scheduler=0.1), TypeError, "scheduler must be"),
        (dict(seed="0"), TypeError, "seed must be an int"),
        (dict(model="unet"), TypeError, "model must be a torch.nn.Module"),
        (dict(loader=[(torch.zeros(1), torch.zeros(1))]), TypeError,
         "must be a torch.utils.data.DataLoader"),
        (dict(amp=True), ValueError, "amp=True needs a CUDA device"),
        (dict(amp="yes"), TypeError, "amp must be True, False or None"),
    ],
)
def test_bad_arguments_are_refused(parts, overrides, error, message):
    with pytest.raises(error, match=message):
        call(parts, device="cpu", **overrides)


def test_optimizer_of_another_model_is_refused(parts):
    other = torch.optim.SGD(TinySegNet().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="none of the model's parameters"):
        call(parts, optimizer=other)


class _Bare(Dataset):
    """Items that are images only: the default collate gives a bare tensor batch."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.rand(3, 8, 8)


class _Triples(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.long), i


class _Dicts(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {"image": torch.rand(3, 8, 8), "semantic": torch.zeros(8, 8, dtype=torch.long)}


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        (_Bare(),
         r"must yield \(inputs, targets\) pairs, got a single tensor of shape \(4, 3, 8, 8\)"),
        (_Triples(), r"must yield \(inputs, targets\) pairs, got a list of length 3"),
        (TensorDataset(torch.rand(8, 3, 8, 8)), r"pairs, got a list of length 1"),
        (_Dicts(), r"pairs, got a dict with keys \['image', 'semantic'\]"),
    ],
)
def test_loader_yielding_the_wrong_structure_is_refused(parts, dataset, message):
    with pytest.raises(TypeError, match=message):
        call(parts, loader=DataLoader(dataset, batch_size=4))


def test_loader_with_an_unreplayable_sampler_is_refused(parts):
    data = make_data(n=8)
    weighted = DataLoader(data, batch_size=4, sampler=WeightedRandomSampler([1.0] * 8, 8))
    with pytest.raises(ValueError, match="WeightedRandomSampler.*shuffle=True or shuffle=False"):
        call(parts, loader=weighted)
    batched = DataLoader(data, batch_sampler=[[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="not with a custom batch_sampler"):
        call(parts, loader=batched)


def test_empty_loader_is_refused(parts):
    empty = DataLoader(make_data(n=3), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match="train_loader has no batch"):
        call(parts, loader=empty)


@pytest.mark.parametrize(
    ("loss_fn", "error", "message"),
    [
        (lambda out, t: F.cross_entropy(out, t, reduction="none"), ValueError,
         r"scalar.*got shape \(4, 8, 8\)"),
        (lambda out, t: F.cross_entropy(out, t).item(), TypeError,
         "must return a tensor, got float"),
        (lambda out, t: (out.argmax(1) == t).sum(), TypeError, "floating-point tensor"),
    ],
)
def test_a_loss_that_is_not_a_scalar_tensor_is_refused(parts, loss_fn, error, message):
    with pytest.raises(error, match=message):
        call(parts, loss_fn=loss_fn)
