"""Multi-crop augmentation (shapes, values of the geometric part, inputs), the multi-crop wrapper
(equal to running backbone and head crop by crop) and one DINO training step (equal to the same
step written out by hand: teacher = EMA of the updated student, centre updated, no
teacher gradient)."""

import copy

import numpy as np
import PIL.Image
import pytest
import torch

from segedu.data import IMAGENET_MEAN, IMAGENET_STD
from segedu.models.foundation.dino import (
    DINOHead,
    DINOLoss,
    MultiCropAugmentation,
    MultiCropWrapper,
    collate_crops,
    dino_training_step,
    make_teacher,
)
from segedu.nn.vit import VisionTransformer


def smooth_image(h=64, w=64):
    """A smooth RGB image in [0, 1] with no symmetry (so that a flip shows)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([x, y, (x * y) ** 0.5]).float()


def test_views_shapes_and_types():
    augment = MultiCropAugmentation(global_size=64, local_size=32, n_local=5, blur_sigma=(0.1, 0.6))
    torch.manual_seed(0)
    photo = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    for image in (torch.rand(3, 90, 120), (torch.rand(3, 50, 70) * 255).to(torch.uint8),
                  PIL.Image.fromarray(photo)):
        views = augment(image)
        assert len(views) == 7
        assert [v.shape for v in views] == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 5
        assert all(type(v) is torch.Tensor and v.dtype == torch.float32 for v in views)


def test_geometric_views_are_crops_of_the_image():
    """colour=False, normalize=False, whole-image crops at the image size: the image or
    its mirror."""
    image = smooth_image()
    augment = MultiCropAugmentation(global_size=64, local_size=16, n_local=2,
                                    global_scale=(1.0, 1.0),
                                    colour=False, normalize=False)
    torch.manual_seed(0)
    seen_flip = seen_plain = False
    for _ in range(8):
        for view in augment(image)[:2]:
            plain = torch.allclose(view, image, atol=1e-5)
            flipped = torch.allclose(view, image.flip(-1), atol=1e-5)
            assert plain or flipped
            seen_plain |= plain
            seen_flip |= flipped
    assert seen_plain and seen_flip


def test_normalisation_and_constant_images():
    """Colour changes keep a constant image constant per channel; normalisation is ImageNet's."""
    grey = torch.full((3, 48, 48), 0.5)
    plain = MultiCropAugmentation(global_size=32, local_size=16, n_local=2, colour=False,
                                  normalize=True)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    for view in plain(grey):
        torch.testing.assert_close(view, ((0.5 - mean) / std)[:, None, None].expand_as(view),
                                   atol=1e-5, rtol=0)
    coloured = MultiCropAugmentation(global_size=32, local_size=16, n_local=4, normalize=False)
    torch.manual_seed(1)
    for view in coloured(torch.full((3, 48, 48), 0.3)):
        flat = view.flatten(1)
        torch.testing.assert_close(flat, flat[:, :1].expand_as(flat), atol=1e-5, rtol=0)


def test_seeded_and_bad_arguments():
    augment = MultiCropAugmentation(global_size=32, local_size=16, n_local=3)
    image = torch.rand(3, 64, 64)
    torch.manual_seed(3)
    a = augment(image)
    torch.manual_seed(3)
    b = augment(image)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        augment(torch.rand(64, 64))
    with pytest.raises(TypeError, match="dtype"):
        augment(torch.zeros(3, 8, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match="global_scale"):
        MultiCropAugmentation(global_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="n_local"):
        MultiCropAugmentation(n_local=-1)
    with pytest.raises(ValueError, match="jitter"):
        MultiCropAugmentation(jitter=(0.4, 0.4, 0.2))
    with pytest.raises(ValueError, match="grey_p"):
        MultiCropAugmentation(grey_p=1.5)


def test_colour_strengths():
    """grey_p = 1 turns every view grey; no jitter, grey or solarisation leaves the
    colours alone."""
    image = torch.rand(3, 48, 48)
    image[0] += 1.0  # a red image: grey views differ from it
    image = image / image.max()
    torch.manual_seed(0)
    for view in MultiCropAugmentation(global_size=32, local_size=16, n_local=2, grey_p=1.0,
                                      normalize=False)(image):
        torch.testing.assert_close(view[0], view[1], atol=1e-6, rtol=0)
        torch.testing.assert_close(view[1], view[2], atol=1e-6, rtol=0)
    # without jitter, grey and solarisation the only colour change is the blur: channel means stay
    # close to the crop's, so the red channel stays the brightest in every view
    plain = MultiCropAugmentation(global_size=32, local_size=16, n_local=4,
                                  jitter=(0.0, 0.0, 0.0, 0.0), grey_p=0.0,
                                  solarize_p=0.0, normalize=False)
    torch.manual_seed(0)
    for view in plain(image):
        means = view.mean(dim=(1, 2))
        assert means[0] > means[1] + 0.2 and means[0] > means[2] + 0.2, means


def test_collate_crops():
    items = [([torch.rand(3, 8, 8), torch.rand(3, 8, 8), torch.rand(3, 4, 4)], {"label": i})
             for i in range(5)]
    batch = collate_crops(items)
    assert [tuple(b.shape) for b in batch] == [(5, 3, 8, 8), (5, 3, 8, 8), (5, 3, 4, 4)]
    assert torch.equal(batch[2][4], items[4][0][2])
    with pytest.raises(ValueError, match="same number of views"):
        collate_crops([[torch.rand(3, 4, 4)], [torch.rand(3, 4, 4)] * 2])


def tiny_student(seed=0):
    torch.manual_seed(seed)
    backbone = VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=1, num_heads=2)
    head = DINOHead(in_dim=24, out_dim=12, hidden_dim=16, bottleneck_dim=8)
    return MultiCropWrapper(backbone=backbone, head=head).double()


def test_wrapper_groups_crops_by_size():
    student = tiny_student()
    calls = []
    student.backbone.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    crops = [torch.randn(2, 3, 32, 32, dtype=torch.float64) for _ in range(2)]
    crops += [torch.randn(2, 3, 16, 16, dtype=torch.float64) for _ in range(3)]
    outputs = student(crops)
    assert calls == [(4, 3, 32, 32), (6, 3, 16, 16)]  # one backbone call per size
    assert len(outputs) == 5 and all(o.shape == (2, 12) for o in outputs)
    for crop, out in zip(crops, outputs, strict=True):
        torch.testing.assert_close(out, student.head(student.backbone(crop)), atol=1e-12,
                                   rtol=1e-12)


def test_training_step_equals_the_step_written_out():
    student = tiny_student()
    teacher = make_teacher(student)
    with torch.no_grad():  # a teacher that differs from the student, as after some training
        for p in teacher.parameters():
            p.add_(0.01 * torch.randn_like(p))
    loss = DINOLoss(out_dim=12).double()
    torch.manual_seed(5)
    crops = [torch.randn(3, 3, 32, 32, dtype=torch.float64) for _ in range(2)]
    crops += [torch.randn(3, 3, 16, 16, dtype=torch.float64) for _ in range(4)]
    # the reference: the same step by hand on copies
    ref_student, ref_teacher, ref_loss = (copy.deepcopy(student), copy.deepcopy(teacher),
                                          copy.deepcopy(loss))
    ref_opt = torch.optim.SGD(ref_student.parameters(), lr=0.5)
    expected = ref_loss(ref_student(crops), [t.detach() for t in ref_teacher(crops[:2])])
    ref_opt.zero_grad()
    expected.backward()
    ref_opt.step()
    teacher_before = [p.clone() for p in teacher.parameters()]

    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    value = dino_training_step(student, teacher, loss, crops, optimizer, 0.9)
    assert value == pytest.approx(expected.item(), rel=1e-12)
    for s, rs in zip(student.parameters(), ref_student.parameters(), strict=True):
        torch.testing.assert_close(s, rs, atol=1e-12, rtol=1e-12)
    for t, t0, s in zip(teacher.parameters(), teacher_before, student.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s.detach(), atol=1e-12, rtol=1e-12)
        assert t.grad is None
    torch.testing.assert_close(loss.center, ref_loss.center, atol=1e-12, rtol=1e-12)
    assert loss.center.abs().sum() > 0
    # the student moved; the frozen lengths did not
    assert any(not torch.equal(s, t0)
               for s, t0 in zip(student.parameters(), teacher_before, strict=True))
    assert (student.head.last_layer.weight_g == 1).all()


def test_training_step_freeze_last_layer_and_errors():
    student = tiny_student()
    teacher = make_teacher(student)
    loss = DINOLoss(out_dim=12).double()
    crops = [torch.randn(2, 3, 32, 32, dtype=torch.float64) for _ in range(3)]
    before = student.head.last_layer.weight_v.clone()
    mlp_before = student.head.mlp[0].weight.clone()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    dino_training_step(student, teacher, loss, crops, optimizer, 0.99, freeze_last_layer=True,
                       clip_grad=1.0,
                       teacher_temp=0.06)
    assert torch.equal(student.head.last_layer.weight_v, before)
    assert not torch.equal(student.head.mlp[0].weight, mlp_before)  # the rest of the student learns
    with pytest.raises(ValueError, match="2 global crops"):
        dino_training_step(student, teacher, loss, crops[:1], optimizer, 0.99)
