"""U-Net with a ResNet encoder against segmentation-models-pytorch's ``Unet``, weight for weight."""

import pytest
import torch
import torchvision

from segedu.models import get_model

smp = pytest.importorskip("segmentation_models_pytorch")


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _randomise_batch_norm(model):
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
def test_same_parameters_and_outputs_as_smp(backbone):
    torch.manual_seed(0)
    reference = smp.Unet(backbone, encoder_weights=None, classes=3).eval()
    _randomise_batch_norm(reference)
    model = get_model("unet_resnet", backbone=backbone, num_classes=3).eval()
    assert _count(model) == _count(reference)  # smp's encoder drops ResNet's classifier too
    model.load_state_dict(reference.state_dict())  # strict: the same names
    for size in [(64, 96), (67, 45), (33, 33)]:  # any size: every block interpolates to its skip
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(model(x)["out"], reference(x), rtol=0, atol=0)


def test_same_training_step_as_smp():
    torch.manual_seed(1)
    reference = smp.Unet("resnet18", encoder_weights=None, classes=4,
                         decoder_interpolation="bilinear").train()
    model = get_model("unet_resnet", backbone="resnet18", num_classes=4,
                      interpolation="bilinear").train()
    model.load_state_dict(reference.state_dict())
    x, y = torch.randn(2, 3, 64, 64), torch.randint(0, 4, (2, 64, 64))
    losses = [torch.nn.functional.cross_entropy(out, y) for out in (model(x)["out"], reference(x))]
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    ours, theirs = dict(model.named_parameters()), dict(reference.named_parameters())
    for name, parameter in ours.items():
        torch.testing.assert_close(parameter.grad, theirs[name].grad, rtol=1e-5, atol=1e-7,
                                   msg=name)
    # batch norm statistics were updated the same way
    torch.testing.assert_close(model.state_dict(), reference.state_dict(), rtol=0, atol=0)


def test_parameter_count_of_the_docstring_and_torchvision_encoder():
    assert _count(get_model("unet_resnet", num_classes=1)) == 24_436_369
    model = get_model("unet_resnet", backbone="resnet34", num_classes=2)
    # torchvision's ImageNet ResNet (here random) loads into the encoder, classifier aside
    state = {k: v for k, v in torchvision.models.resnet34(weights=None).state_dict().items()
             if not k.startswith("fc.")}
    model.encoder.load_state_dict(state)


def test_slim_encoder_and_errors():
    model = get_model("unet_resnet", backbone="resnet18", backbone_width=16, num_classes=6,
                      decoder_channels=(64, 32, 16, 16, 16)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 50, 37))["out"].shape == (1, 6, 50, 37)
    with pytest.raises(ValueError, match="backbone must be one of"):
        get_model("unet_resnet", backbone="vgg16")
    with pytest.raises(ValueError, match="decoder_channels needs 5 values"):
        get_model("unet_resnet", decoder_channels=(16, 16))
    with pytest.raises(ValueError, match="interpolation must be"):
        get_model("unet_resnet", interpolation="bicubic")
