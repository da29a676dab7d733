"""FCN-ResNet50 and DeepLabv3-ResNet50 equal torchvision's models given torchvision's weights."""

import hashlib

import pytest
import torch
import torchvision

from segedu.models import get_model, list_models
from segedu.models.semantic.heads import ASPP

# torchvision documents these counts (21 classes, auxiliary head included)
PARAMETERS = {"fcn_resnet50": 35_322_218, "deeplabv3_resnet50": 42_004_074}


def _reference(name, **kwargs):
    builder = getattr(torchvision.models.segmentation, name)
    return builder(weights=None, weights_backbone=None, **kwargs).eval()


def _perturb_batch_norm(model):
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_same_parameters_as_torchvision(name):
    model = get_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel()
                        for p in _reference(name, num_classes=21, aux_loss=True).parameters())
    assert count == PARAMETERS[name]
    assert name in list_models()


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_same_outputs_as_torchvision_from_a_saved_checkpoint(name, tmp_path):
    torch.manual_seed(0)
    reference = _reference(name, num_classes=5, aux_loss=True)
    _perturb_batch_norm(reference)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)  # as torchvision's checkpoints are: a bare state dict
    model = get_model(name, num_classes=5, weights=path).eval()
    for size in [(64, 64), (97, 130)]:  # odd sizes too: the scores are up-sampled to the input
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            ours, theirs = model(x), reference(x)
        assert list(ours) == ["out", "aux"]
        assert ours["out"].shape == (2, 5, *size)
        torch.testing.assert_close(ours["out"], theirs["out"], rtol=0, atol=0)
        torch.testing.assert_close(ours["aux"], theirs["aux"], rtol=0, atol=0)


def test_without_aux_head_and_gradients():
    model = get_model("deeplabv3_resnet50", num_classes=3, aux_loss=False)
    reference = _reference("deeplabv3_resnet50", num_classes=3, aux_loss=False)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel()
                                                             for p in reference.parameters())
    out = model(torch.randn(2, 3, 32, 32))
    assert list(out) == ["out"]
    out["out"].mean().backward()
    assert model.backbone.conv1.weight.grad is not None


def test_aspp_equals_torchvision():
    from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

    torch.manual_seed(0)
    reference = TorchvisionASPP(64, [2, 4, 6], 32).eval()
    ours = ASPP(in_channels=64, rates=(2, 4, 6), out_channels=32).eval()
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 64, 13, 11)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)


def test_bad_weights_and_names(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'fcn_resnet5'"):
        get_model("fcn_resnet5")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        get_model("fcn_resnet50", weights=tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        get_model("fcn_resnet50", weights=tmp_path / "junk.pth")
    # the wrong model's weights: the keys do not fit
    wrong = get_model("fcn_resnet50", num_classes=2, aux_loss=False)
    torch.save({"state_dict": wrong.state_dict()}, tmp_path / "fcn.pth")
    with pytest.raises(ValueError, match="does not fit"):
        get_model("deeplabv3_resnet50", num_classes=2, aux_loss=False, weights=tmp_path / "fcn.pth")
    with pytest.raises(ValueError, match="no official checkpoint"):
        get_model("fcn32s", weights="official")
    with pytest.raises(ValueError, match="segedu.zoo has no checkpoint"):
        get_model("fcn_resnet50", weights="zoo")


def _hashed_checkpoint(model, folder):
    """Save a state dict under torchvision's naming, name-<first 8 hex digits of its sha256>.pth."""
    folder.mkdir()
    path = folder / "checkpoint.pth"
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path.rename(folder / f"tiny-{digest[:8]}.pth"), digest


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_official_weights_are_torchvisions_checkpoint(name, tmp_path, monkeypatch):
    from segedu.models import registry

    # the address is torchvision's own
    weights_enum = {"fcn_resnet50": "FCN_ResNet50_Weights",
                    "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights"}[name]
    assert (registry.official_url(name)
            == getattr(torchvision.models.segmentation, weights_enum).DEFAULT.url)
    # offline: torchvision's randomly initialised model saved as a file stands in for the download
    torch.manual_seed(1)
    reference = _reference(name, num_classes=21, aux_loss=True)
    _perturb_batch_norm(reference)
    path, _ = _hashed_checkpoint(reference, tmp_path / "server")
    official = registry.official_url  # the download is read from the given address instead
    monkeypatch.setattr(registry, "official_url",
                        lambda n: path.as_uri() if n == name else official(n))
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    model = get_model(name, weights="official").eval()
    assert (tmp_path / "cache" / "checkpoints" / path.name).is_file()  # downloaded into the cache
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["out"], reference(x)["out"], rtol=0, atol=0)


def test_official_download_with_a_wrong_hash_fails(tmp_path, monkeypatch):
    from segedu.models import registry

    path, digest = _hashed_checkpoint(get_model("fcn_resnet50"), tmp_path / "server")
    wrong = path.rename(tmp_path / "server"
                        / f"tiny-{'0' * 8 if digest[:8] != '0' * 8 else '1' * 8}.pth")
    official = registry.official_url
    monkeypatch.setattr(registry, "official_url",
                        lambda n: wrong.as_uri() if n == "fcn_resnet50" else official(n))
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    with pytest.raises(RuntimeError, match="invalid hash value"):
        get_model("fcn_resnet50", weights="official")


def test_weights_for_another_number_of_classes(tmp_path):
    torch.save(get_model("fcn_resnet50", num_classes=2).state_dict(), tmp_path / "two.pth")
    with pytest.raises(ValueError, match="does not fit.*classifier.4.weight"):
        get_model("fcn_resnet50", num_classes=3, weights=tmp_path / "two.pth")
