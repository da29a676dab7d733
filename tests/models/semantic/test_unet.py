"""U-Net family: shapes, the paper's 572 -> 388 network, size errors, hand-derived parameter
counts, the skip crop against torchvision, residual shortcuts, gradients, and the 3D U-Net."""


import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

import segedu.models.semantic.unet  # noqa: F401  (registers unet, unet_original, resunet)
import segedu.models.semantic.unet3d  # noqa: F401  (registers unet3d)
from segedu.models.registry import get_model
from segedu.models.semantic.unet import (
    DoubleConv,
    UNet,
    center_crop,
    unet_output_size,
    valid_unet_input_size,
)
from segedu.models.semantic.unet3d import UNet3D


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# The original network (unpadded)
# ---------------------------------------------------------------------------------------------


def test_original_parameter_count_derived_by_hand():
    # Conv k x k, c_in -> c_out, with bias: c_in * c_out * k * k + c_out.
    # Encoder (two 3x3 convs per level):
    #   1 -> 64 -> 64:      (1*64*9 + 64) + (64*64*9 + 64)       =     640 +    36,928 =     37,568
    #   64 -> 128 -> 128:   (64*128*9 + 128) + (128*128*9 + 128) =  73,856 +   147,584 =    221,440
    #   128 -> 256 -> 256:  295,168 + 590,080                                          =    885,248
    #   256 -> 512 -> 512:  1,180,160 + 2,359,808                                      =  3,539,968
    #   bottleneck 512 -> 1024 -> 1024: 4,719,616 + 9,438,208                          = 14,157,824
    # Decoder (2x2 up-conv halving channels, then two 3x3 convs on the concatenation):
    #   1024 -> 512: (1024*512*4 + 512) + (1024*512*9 + 512) + 2,359,808
    #              = 2,097,664 + 4,719,104 + 2,359,808                                 =  9,176,576
    #   512 -> 256:  524,544 + 1,179,904 + 590,080                                     =  2,294,528
    #   256 -> 128:  131,200 + 295,040 + 147,584                                       =    573,824
    #   128 -> 64:   32,832 + 73,792 + 36,928                                          =    143,552
    # Head 1x1, 64 -> 2: 64*2 + 2                                                      =        130
    # Total                                                                            = 31,030,658
    # (The often quoted 31,031,685 is the Keras "unet" of zhixuhao/unet: it has an extra 3x3 conv
    # 64 -> 2 (1,154) and a 1x1 conv 2 -> 1 with a sigmoid (3) instead of our 2-class head (130):
    # 31,030,658 - 130 + 1,154 + 3 = 31,031,685.)
    expected = (
        37_568 + 221_440 + 885_248 + 3_539_968 + 14_157_824
        + 9_176_576 + 2_294_528 + 573_824 + 143_552 + 130
    )
    assert expected == 31_030_658
    model = get_model("unet_original")
    assert n_params(model) == expected
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.padding == (0, 0) for m in model.modules() if isinstance(m, nn.Conv2d))


def test_original_572_to_388():
    # Paper, Fig. 1: 572 -> 570 -> 568 | 284 -> 282 -> 280 | 140 -> 138 -> 136 | 68 -> 66 -> 64 |
    # 32 -> 30 -> 28 (bottleneck) | up 56 -> 54 -> 52 | 104 -> 100 | 200 -> 196 | 392 -> 388.
    # (no wall-clock limit: on shared cores it measured the load, not the model)
    model = get_model("unet_original").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 572, 572))["out"]
    assert out.shape == (1, 2, 388, 388)


def test_output_size_formula_matches_paper():
    assert unet_output_size(572, 4) == 388
    # The smallest input for depth 4: bottleneck input 8 -> 4 -> up 8-4=4 -> 4 -> 4 -> 4;
    # input = 8*16 + 4*(16-1) = 188.
    assert unet_output_size(188, 4) == 4
    assert valid_unet_input_size(1, 4) == 188


def test_valid_sizes_by_hand_for_depth_2():
    # depth 2: input s = 4b + 12 for a bottleneck input b; output 4(b - 4) - 12 >= 1 needs b >= 8,
    # so the valid sizes are 44, 48, 52, ... with outputs 4, 8, 12, ...
    valid = [s for s in range(1, 80) if valid_unet_input_size(s, 2) == s]
    assert valid == list(range(44, 80, 4))
    assert [unet_output_size(s, 2) for s in valid] == list(range(4, 4 + 4 * len(valid), 4))
    assert valid_unet_input_size(45, 2) == 48


@pytest.mark.parametrize(("size", "out"), [(44, 4), (48, 8), (60, 20)])
@pytest.mark.parametrize("residual", [False, True])
def test_unpadded_small_shapes(size, out, residual):
    model = UNet(in_channels=1, num_classes=3, depth=2, width=2, padding=False, batch_norm=False,
                 residual=residual)
    assert model(torch.randn(2, 1, size, size + 4))["out"].shape == (2, 3, out, out + 4)


def test_unpadded_bad_size_names_valid_sizes():
    model = get_model("unet_original")
    # 570 - 4 = 566, 283 is odd after the first pooling -> invalid; neighbours 572 - 16 and 572.
    with pytest.raises(ValueError, match=r"570.*556 and 572"):
        model(torch.zeros(1, 1, 570, 572))
    with pytest.raises(ValueError, match="188"):
        model(torch.zeros(1, 1, 100, 100))  # too small: the smallest valid size is 188


# ---------------------------------------------------------------------------------------------
# The padded network
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("up", ["transposed", "bilinear"])
def test_padded_keeps_size(depth, width, up):
    m = 2**depth
    model = get_model("unet", in_channels=3, num_classes=5, depth=depth, width=width, up=up)
    x = torch.randn(2, 3, 2 * m, 3 * m)
    assert model(x)["out"].shape == (2, 5, 2 * m, 3 * m)


def test_padded_without_batch_norm():
    model = get_model("unet", width=2, depth=2, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(1, 3, 12, 20))["out"].shape == (1, 2, 12, 20)


def test_padded_bad_size_names_multiple():
    # We raise (no silent internal padding): 97 x 130 is not a multiple of 2**4 = 16.
    model = get_model("unet", width=2, depth=4)
    with pytest.raises(ValueError, match=r"multiple of 2\*\*4 = 16.*\(112, 144\)"):
        model(torch.zeros(1, 3, 97, 130))
    # Padding up to the suggested size works, and cropping back gives the 97 x 130 logits.
    x = torch.nn.functional.pad(torch.zeros(1, 3, 97, 130), (0, 144 - 130, 0, 112 - 97))
    assert model(x)["out"][..., :97, :130].shape == (1, 2, 97, 130)


def test_padded_parameter_count_derived_by_hand():
    # width 4, depth 2, 3 -> 2 classes, batch norm (convs without bias, BN has 2 * C parameters):
    #   inc   3 -> 4 -> 4:   108 + 8 + 144 + 8                                  =  268
    #   down1 4 -> 8 -> 8:   288 + 16 + 576 + 16                                =  896
    #   down2 8 -> 16 -> 16: 1152 + 32 + 2304 + 32                              = 3520
    #   up    16 -> 8: up-conv 16*8*4 + 8 = 520; 16 -> 8 -> 8: 1152+16+576+16   = 2280
    #   up    8 -> 4:  up-conv 8*4*4 + 4 = 132;  8 -> 4 -> 4:  288+8+144+8      =  580
    #   head  4 -> 2:  4*2 + 2                                                  =   10
    #   total 7554
    assert n_params(get_model("unet", width=4, depth=2)) == 7554
    # bilinear: the up-convs 520 and 132 become 1x1 convs 16*8+8 = 136 and 8*4+4 = 36.
    assert (n_params(get_model("unet", width=4, depth=2, up="bilinear"))
            == 7554 - 520 + 136 - 132 + 36)
    # residual: 1x1 shortcut + BN in the five double convs, all of which change channels:
    #   3->4: 12+8, 4->8: 32+16, 8->16: 128+32, 16->8: 128+16, 8->4: 32+8 = 412
    assert n_params(get_model("resunet", width=4, depth=2)) == 7554 + 412


def test_bad_up_mode():
    with pytest.raises(ValueError, match="up must be"):
        get_model("unet", up="nearest")


# ---------------------------------------------------------------------------------------------
# Skip connection crop, residual shortcut, gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("have", "want"),
                         [((64, 64), (56, 56)), ((15, 20), (8, 13)), ((7, 9), (7, 2))])
def test_center_crop_matches_torchvision(have, want):
    x = torch.randn(2, 3, *have)
    torch.testing.assert_close(center_crop(x, want), TF.center_crop(x, list(want)), rtol=0, atol=0)


def test_up_concatenates_cropped_skip():
    # The concatenation fed to Up's double conv must start with the skip centre-cropped by
    # torchvision (14 x 14 -> 10 x 10, the up-sampled size of a 5 x 5 map).
    model = UNet(in_channels=1, depth=1, width=2, padding=False, batch_norm=False)
    up = model.ups[0]
    seen = {}
    up.conv.register_forward_pre_hook(lambda _m, args: seen.setdefault("cat", args[0]))
    x, skip = torch.randn(1, 4, 5, 5), torch.randn(1, 2, 14, 14)
    up(x, skip)
    torch.testing.assert_close(seen["cat"][:, :2], TF.center_crop(skip, [10, 10]), rtol=0, atol=0)


def test_residual_shortcut_is_identity_when_block_is_silenced():
    # With equal channels the shortcut is the identity; zeroing the last BN's scale and shift
    # silences the conv branch, so the block computes ReLU(x) exactly.
    block = DoubleConv(4, 4, residual=True).eval()
    assert isinstance(block.shortcut, nn.Identity)
    last_bn = [m for m in block.block if isinstance(m, nn.BatchNorm2d)][-1]
    with torch.no_grad():
        last_bn.weight.zero_()
        last_bn.bias.zero_()
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))
    # Different channels: a 1x1 convolution (+ BN) shortcut.
    block = DoubleConv(3, 8, residual=True)
    assert isinstance(block.shortcut[0], nn.Conv2d) and block.shortcut[0].kernel_size == (1, 1)


def test_training_reduces_loss_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = get_model("resunet", in_channels=1, num_classes=2, depth=2, width=4)
    x = torch.randn(4, 1, 16, 16)
    target = (x > 0).long().squeeze(1)  # a learnable per-pixel rule
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x)["out"], target)
        optimizer.zero_grad()
        loss.backward()
        if not losses:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ---------------------------------------------------------------------------------------------
# 3D U-Net
# ---------------------------------------------------------------------------------------------


def test_unet3d_keeps_volume_size():
    model = get_model("unet3d", width=4)
    assert isinstance(model, UNet3D)
    assert any(isinstance(m, nn.Conv3d) for m in model.modules())
    assert any(isinstance(m, nn.ConvTranspose3d) for m in model.modules())
    assert any(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    assert model(torch.randn(1, 1, 16, 32, 32))["out"].shape == (1, 2, 16, 32, 32)
    with pytest.raises(ValueError, match=r"multiple of 2\*\*3 = 8"):
        model(torch.randn(1, 1, 12, 32, 32))


def test_unet3d_parameter_count_derived_by_hand():
    # width 2, depth 1, 1 -> 2 classes, 3x3x3 kernels (27 weights per channel pair), BN:
    #   inc  1 -> 2 -> 2: 54 + 4 + 108 + 4                                     =  170
    #   down 2 -> 4 -> 4: 216 + 8 + 432 + 8                                    =  664
    #   up   4 -> 2: up-conv 2x2x2 4*2*8 + 2 = 66; 4 -> 2 -> 2: 216+4+108+4    =  398
    #   head 2 -> 2: 2*2 + 2                                                   =    6
    assert n_params(get_model("unet3d", width=2, depth=1)) == 170 + 664 + 398 + 6
