"""PSPNet: the pyramid pooling module by hand, parameter count, output shapes, the loss."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from segedu.models.registry import get_model, list_models
from segedu.models.semantic.pspnet import PSPNet, PyramidPoolingModule, pspnet_loss


@pytest.fixture(scope="module")
def model():
    """One PSPNet with 21 classes and the auxiliary head (build the ResNet-50 once)."""
    torch.manual_seed(0)
    return get_model("pspnet_resnet50", num_classes=21, aux_loss=True).eval()


def _perturb_batch_norm(module):
    for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.1, 0.1)


def _adaptive_average_by_hand(x, bins):
    """Region (i, j) of a ``bins`` x ``bins`` grid spans rows floor(i H / b) ..
    ceil((i + 1) H / b)."""
    height, width = x.shape[-2:]
    out = torch.empty(*x.shape[:-2], bins, bins)
    for i in range(bins):
        r0, r1 = math.floor(i * height / bins), math.ceil((i + 1) * height / bins)
        for j in range(bins):
            c0, c1 = math.floor(j * width / bins), math.ceil((j + 1) * width / bins)
            out[..., i, j] = x[..., r0:r1, c0:c1].mean(dim=(-2, -1))
    return out


def test_ppm_doubles_the_channels_and_pools_to_each_bin():
    ppm = PyramidPoolingModule(64, bins=(1, 2, 3, 6)).eval()
    x = torch.randn(2, 64, 9, 13)
    with torch.no_grad():
        y = ppm(x)
    assert ppm.out_channels == 128 and y.shape == (2, 128, 9, 13)  # C + 4 * C/4 = 2C
    torch.testing.assert_close(y[:, :64], x, rtol=0, atol=0)  # the features come first, unchanged
    for stage, bins in zip(ppm.stages, (1, 2, 3, 6), strict=True):
        with torch.no_grad():
            assert stage(x).shape == (2, 16, bins, bins)  # C/4 channels, bins x bins


def test_a_pyramid_branch_by_hand():
    torch.manual_seed(3)
    ppm = PyramidPoolingModule(32, bins=(1, 2, 3, 6))
    _perturb_batch_norm(ppm)
    ppm.eval()
    x = torch.randn(2, 32, 9, 13)
    with torch.no_grad():
        y = ppm(x)
    for k, (stage, bins) in enumerate(zip(ppm.stages, (1, 2, 3, 6), strict=True)):
        _, conv, bn, _ = stage
        pooled = _adaptive_average_by_hand(x, bins)  # (2, 32, b, b)
        torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, bins))
        z = torch.einsum("oc,nchw->nohw", conv.weight[:, :, 0, 0], pooled)  # 1x1 conv, no bias
        z = (z - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None]
                                                              + bn.eps)
        z = torch.relu(z * bn.weight[:, None, None] + bn.bias[:, None, None])  # (2, 8, b, b)
        expected = F.interpolate(z, size=(9, 13), mode="bilinear", align_corners=False)
        torch.testing.assert_close(y[:, 32 + 8 * k:32 + 8 * (k + 1)], expected)
    # the 1x1 level is the global average, the same for every pixel
    level1 = y[:, 32:40]
    torch.testing.assert_close(level1, level1[:, :, :1, :1].expand_as(level1))


def test_pooling_branches_match_segmentation_models_pytorch():
    """smp's PSPBlock for bins 2, 3, 6 is AdaptiveAvgPool -> 1x1 conv (no bias) -> BN -> ReLU, as
    ours: with its weights, our pooled branch output is equal. Its full module differs (see the
    docstring of segedu.models.semantic.pspnet: no BN in its 1x1 branch, align_corners=True, other
    concatenation order, 1x1 bottleneck), so the whole module is not compared."""
    decoder = pytest.importorskip("segmentation_models_pytorch.decoders.pspnet.decoder")
    torch.manual_seed(4)
    theirs = decoder.PSPModule(32, sizes=(1, 2, 3, 6))
    _perturb_batch_norm(theirs)
    theirs.eval()
    ours = PyramidPoolingModule(32, bins=(1, 2, 3, 6)).eval()
    # the layout difference: their 1x1 branch has no BN but a conv bias
    assert isinstance(theirs.blocks[0].pool[1][1], torch.nn.Identity)
    assert theirs.blocks[0].pool[1][0].bias is not None
    x = torch.randn(2, 32, 9, 13)
    for k in (1, 2, 3):  # bins 2, 3, 6: key mapping blocks.k.pool.1.{0,1} -> stages.k.{1,2}
        block = theirs.blocks[k]
        mapped = {f"1.{name}": value for name, value in block.pool[1][0].state_dict().items()}
        mapped |= {f"2.{name}": value for name, value in block.pool[1][1].state_dict().items()}
        ours.stages[k].load_state_dict(mapped, strict=True)
        with torch.no_grad():
            torch.testing.assert_close(ours.stages[k](x), block.pool(x), rtol=0, atol=0)
            # what remains different: their up-sampling aligns the corners
            upsampled = F.interpolate(ours.stages[k](x), size=(9, 13), mode="bilinear",
                                      align_corners=True)
            torch.testing.assert_close(upsampled, block(x))


def test_parameter_count_by_hand(model):
    assert "pspnet_resnet50" in list_models()
    assert isinstance(model, PSPNet)
    backbone = sum(p.numel() for name, p in torchvision.models.resnet50().named_parameters()
                   if not name.startswith("fc."))  # 23,508,032
    ppm = 4 * (2048 * 512 + 2 * 512)  # 4 branches: 1x1 conv 2048 -> 512 (no bias), BN
    bottleneck = 9 * 4096 * 512 + 2 * 512  # 3x3 conv 2C = 4096 -> 512 (no bias), BN
    classifier = 512 * 21 + 21  # 1x1 conv with bias
    # FCN head on layer3: 3x3 conv 1024 -> 256, BN, 1x1
    aux = 9 * 1024 * 256 + 2 * 256 + 256 * 21 + 21
    assert backbone == 23_508_032
    total = backbone + ppm + bottleneck + classifier + aux
    assert sum(p.numel() for p in model.parameters()) == total == 48_957_802
    no_aux = get_model("pspnet_resnet50", num_classes=21, aux_loss=False)
    assert sum(p.numel() for p in no_aux.parameters()) == total - aux


def test_output_shapes_for_an_odd_input(model):
    x = torch.randn(1, 3, 65, 97)
    seen = {}
    hook = model.classifier[0].register_forward_hook(
        lambda m, inputs, output: seen.setdefault("ppm", output))
    with torch.no_grad():
        out = model(x)
    hook.remove()
    assert list(out) == ["out", "aux"]
    assert out["out"].shape == out["aux"].shape == (1, 21, 65, 97)
    # output stride 8: 65 -> 33 (conv1) -> 17 (maxpool) -> 9 (layer2); 97 -> 49 -> 25 -> 13
    assert seen["ppm"].shape == (1, 4096, 9, 13)


def test_without_aux_head_and_training_step():
    torch.manual_seed(5)
    model = get_model("pspnet_resnet50", num_classes=3, aux_loss=False)
    out = model(torch.randn(2, 3, 33, 33))  # training mode: batch 2 for the BN on the 1x1 bin
    assert list(out) == ["out"] and out["out"].shape == (2, 3, 33, 33)
    pspnet_loss(out, torch.randint(0, 3, (2, 33, 33))).backward()
    assert model.backbone.conv1.weight.grad is not None


def test_loss_is_the_hand_combination_of_cross_entropies():
    torch.manual_seed(6)
    out, aux = torch.randn(2, 4, 5, 7), torch.randn(2, 4, 5, 7)
    target = torch.randint(0, 4, (2, 5, 7))
    target[0, :2] = 255  # unlabelled pixels are ignored
    loss = pspnet_loss({"out": out, "aux": aux}, target)
    # by hand: mean negative log-probability of the true class over the labelled pixels
    def ce(logits):
        log_p = logits.log_softmax(dim=1)
        keep = target != 255
        picked = log_p.gather(1, target.clamp(max=3)[:, None])[:, 0]
        return -(picked[keep]).mean()
    torch.testing.assert_close(loss, ce(out) + 0.4 * ce(aux))
    torch.testing.assert_close(loss, F.cross_entropy(out, target, ignore_index=255)
                               + 0.4 * F.cross_entropy(aux, target, ignore_index=255))
    torch.testing.assert_close(pspnet_loss({"out": out}, target), ce(out))
    loss = pspnet_loss({"out": out, "aux": aux}, target, aux_weight=1.0)
    torch.testing.assert_close(loss, ce(out) + ce(aux))
