"""iBOT's masked patch self-distillation: block masks, the masked ViT input, the patch loss
(against lightly's ``IBOTPatchLoss`` and a loop over images and patches) and the training step."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from segedu.models.foundation.dino import DINOHead, DINOLoss, dino_vit_tiny, make_teacher
from segedu.models.foundation.dino.ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    block_mask,
    ibot_training_step,
    random_block_masks,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lightly warns about deprecated torch APIs
    from lightly.loss import IBOTPatchLoss


@pytest.mark.parametrize("grid", [(8, 8), (16, 16), (4, 12)])
def test_block_mask_count_shape_and_blocks(grid):
    g = torch.Generator().manual_seed(0)
    n = grid[0] * grid[1]
    for num in [0, 1, 3, n // 4, n // 2]:
        counts = []
        for _ in range(50):
            mask = block_mask(grid, num, generator=g)
            assert mask.shape == grid and mask.dtype == torch.bool
            counts.append(int(mask.sum()))
        # never more than asked; at ratios of at most a half BEiT's sampler reaches the count
        assert max(counts) == num and min(counts) >= num - 2
    # blocks, not scattered patches: a 25 % mask has few 4-connected pieces
    mask = block_mask((16, 16), 64, generator=g)
    from scipy.ndimage import label

    assert label(mask.numpy())[1] <= 8


def test_block_mask_errors_and_seed():
    with pytest.raises(ValueError, match="num_masked"):
        block_mask((4, 4), 17)
    with pytest.raises(ValueError, match="num_masked"):
        block_mask((4, 4), -1)
    a = block_mask((8, 8), 20, generator=torch.Generator().manual_seed(3))
    b = block_mask((8, 8), 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_random_block_masks_probability_and_ratio():
    g = torch.Generator().manual_seed(0)
    masks = random_block_masks(400, (8, 8), generator=g, probability=0.5, ratio=(0.1, 0.5))
    assert masks.shape == (400, 8, 8)
    masked = masks.flatten(1).sum(1)
    share = (masked > 0).double().mean()
    assert 0.4 < share < 0.6  # about half of the images are masked
    ratios = masked[masked > 0].double() / 64
    assert ratios.min() >= 0.05 and ratios.max() <= 0.5
    assert not random_block_masks(10, (8, 8), generator=g, probability=0.0).any()


def test_masked_tokens_replace_patches_before_the_positional_embedding():
    torch.manual_seed(0)
    vit = dino_vit_tiny().eval()
    images = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 1:3, 2] = True
    token = torch.randn(vit.embed_dim)
    plain = vit.prepare_tokens(images)
    masked = vit.prepare_tokens(images, mask=mask, mask_token=token)
    flat = mask.flatten(1)
    # unmasked patches and the class token are untouched
    assert torch.equal(masked[:, 0], plain[:, 0])
    assert torch.equal(masked[:, 1:][~flat], plain[:, 1:][~flat])
    # a masked patch is the mask token plus its position's embedding
    pos = plain[:, 1:] - vit.patch_embed(images)
    assert torch.allclose(masked[:, 1:][flat], (token + pos[flat]), atol=1e-6)
    # an all-False mask changes nothing
    assert torch.equal(vit.forward_features(images, mask=torch.zeros_like(mask), mask_token=token),
                       vit.forward_features(images))


def test_masked_tokens_bad_arguments():
    vit = dino_vit_tiny()
    images = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="mask_token"):
        vit.prepare_tokens(images, mask=torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        vit.prepare_tokens(images, mask=torch.zeros(2, 3, 4, dtype=torch.bool),
                           mask_token=torch.zeros(192))
    with pytest.raises(ValueError, match="bool"):
        vit.prepare_tokens(images, mask=torch.zeros(2, 4, 4), mask_token=torch.zeros(192))


def _random_case(seed, b=5, h=3, w=4, k=7):
    g = torch.Generator().manual_seed(seed)
    student = [torch.randn(b, h * w, k, generator=g, dtype=torch.float64) for _ in range(2)]
    teacher = [torch.randn(b, h * w, k, generator=g, dtype=torch.float64) for _ in range(2)]
    # masks of 0, 1, 2, 4 or 8 patches per image: lightly weighs each patch by 1 / count in float32,
    # exact for powers of two only (a float64 comparison at 1e-12 would otherwise see its rounding)
    masks = []
    for _ in range(2):
        counts = torch.tensor([0, 1, 2, 4, 8])[torch.randint(0, 5, (b,), generator=g)]
        counts[0] = 0  # an image with nothing masked
        order = torch.rand(b, h * w, generator=g).argsort(1)
        masks.append((order < counts[:, None]).reshape(b, h, w))
    return student, teacher, masks


@pytest.mark.parametrize("seed", range(5))
def test_patch_loss_equals_lightly_and_a_loop(seed):
    student, teacher, masks = _random_case(seed)
    # lightly turns the temperature into a float32 tensor, so a temperature that float32
    # holds exactly
    TAU = 0.0625
    ours = MaskedPatchLoss(out_dim=7).double()
    ours.center.normal_(generator=torch.Generator().manual_seed(seed + 100))
    value = ours(student, teacher, masks, teacher_temp=TAU)
    center = ours.center.clone()
    # the loop: per view, per image, the mean over masked patches of H(teacher, student); 0 if none
    per_view = []
    for s, t, m in zip(student, teacher, masks, strict=True):
        images = []
        for i in range(s.shape[0]):
            where = m[i].flatten().nonzero().flatten().tolist()
            terms = [-(F.softmax((t[i, j] - _start_center(seed)) / TAU, -1)
                       * F.log_softmax(s[i, j] / 0.1, -1)).sum()
                     for j in where]
            images.append(sum(terms) / len(terms) if terms
                          else torch.zeros((), dtype=torch.float64))
        per_view.append(torch.stack(images).mean())
    assert torch.allclose(value, torch.stack(per_view).mean(), atol=1e-12, rtol=0)
    # lightly (DINOv2's ibot_patch_loss) on the masked tokens only, with the same starting centre
    reference = []
    for s, t, m in zip(student, teacher, masks, strict=True):
        theirs = IBOTPatchLoss(output_dim=7, teacher_temp=TAU, student_temp=0.1).double()
        theirs.center.center.copy_(_start_center(seed).view(1, 7))
        flat = m.flatten(1)
        reference.append(theirs(t[flat], s[flat], m))
    assert torch.allclose(value, torch.stack(reference).mean(), atol=1e-12, rtol=0)
    # the centre: iBOT's, the moving average of the mean over all teacher patches (lightly's DINOv2
    # version averages the masked ones only)
    expected = 0.9 * _start_center(seed) + 0.1 * torch.cat(teacher).mean(dim=(0, 1))
    assert torch.allclose(center.view(-1), expected, atol=1e-12)


def _start_center(seed):
    generator = torch.Generator().manual_seed(seed + 100)
    return torch.empty(1, 1, 7, dtype=torch.float64).normal_(generator=generator).view(7)


def test_patch_loss_gradient_only_on_masked_student_patches_and_errors():
    student, teacher, masks = _random_case(0)
    student = [s.clone().requires_grad_(True) for s in student]
    MaskedPatchLoss(out_dim=7).double()(student, teacher, masks, teacher_temp=0.04).backward()
    for s, m in zip(student, masks, strict=True):
        touched = s.grad.abs().sum(-1) > 0
        assert torch.equal(touched, m.flatten(1))
    loss = MaskedPatchLoss(out_dim=7)
    with pytest.raises(ValueError, match="one student output"):
        loss(student[:1], teacher, masks, teacher_temp=0.04)
    with pytest.raises(ValueError, match="do not match"):
        loss([s[:, :5] for s in student], teacher, masks, teacher_temp=0.04)


def test_perfect_student_loss_is_the_teacher_entropy():
    # a student equal to the teacher's sharpened logits (times tau_s / tau_t) pays the
    # teacher's entropy
    _, teacher, masks = _random_case(1)
    student = [t * 0.1 / 0.04 for t in teacher]
    value = MaskedPatchLoss(out_dim=7).double()(student, teacher, masks, teacher_temp=0.04)
    entropies = []
    for t, m in zip(teacher, masks, strict=True):
        p = F.softmax(t / 0.04, -1)
        h = -(p * p.log()).sum(-1)
        w = m.flatten(1).double()
        entropies.append(((h * w).sum(1) / w.sum(1).clamp(min=1)).mean())
    assert torch.allclose(value, torch.stack(entropies).mean(), atol=1e-12)


def test_ibot_training_step_written_out():
    torch.manual_seed(0)
    head = DINOHead(in_dim=192, out_dim=64, hidden_dim=32, bottleneck_dim=16)
    student = MaskedPatchWrapper(backbone=dino_vit_tiny(), head=head).double()
    teacher = make_teacher(student)
    # copies for the written-out step
    twin_student, twin_teacher = make_teacher(student), make_teacher(teacher)
    for p, q in zip(twin_student.parameters(), student.parameters(), strict=True):
        p.requires_grad_(q.requires_grad)  # the frozen lengths of the last layer stay frozen
    views = [torch.randn(3, 3, 32, 32, dtype=torch.float64) for _ in range(2)]
    g = torch.Generator().manual_seed(0)
    masks = [random_block_masks(3, (4, 4), generator=g, probability=1.0) for _ in range(2)]
    closs, ploss = DINOLoss(out_dim=64).double(), MaskedPatchLoss(out_dim=64).double()
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    out = ibot_training_step(student, teacher, closs, ploss, views, masks, opt, 0.9,
                             teacher_temp=0.04,
                             patch_teacher_temp=0.05, patch_weight=0.5)
    # written out: teacher on the plain views, student on the masked ones, both losses, SGD, EMA
    with torch.no_grad():
        t_out = [twin_teacher(v) for v in views]
    s_out = [twin_student(v, m) for v, m in zip(views, masks, strict=True)]
    c = DINOLoss(out_dim=64).double()([s[0] for s in s_out], [t[0] for t in t_out],
                                      teacher_temp=0.04)
    p = MaskedPatchLoss(out_dim=64).double()([s[1] for s in s_out], [t[1] for t in t_out], masks,
                                             teacher_temp=0.05)
    assert math.isclose(out["class_loss"], float(c), abs_tol=1e-10)
    assert math.isclose(out["patch_loss"], float(p), abs_tol=1e-10)
    assert math.isclose(out["loss"], float(c + 0.5 * p), abs_tol=1e-10)
    (c + 0.5 * p).backward()
    with torch.no_grad():
        for (name, a), b, t0, t1 in zip(student.named_parameters(), twin_student.parameters(),
                                        twin_teacher.parameters(), teacher.parameters(),
                                        strict=True):
            expected = b - 0.1 * b.grad if b.grad is not None else b
            assert torch.allclose(a, expected, atol=1e-10), name
            assert torch.allclose(t1, 0.9 * t0 + 0.1 * expected, atol=1e-10), name
    # the mask token learns (it is the only input of the masked patches)
    assert student.mask_token.abs().sum() > 0
    with pytest.raises(ValueError, match="2 global views"):
        ibot_training_step(student, teacher, closs, ploss, views[:1], masks, opt, 0.9,
                           teacher_temp=0.04)


def test_all_patches_puts_the_patch_loss_on_the_visible_patches_too():
    torch.manual_seed(0)
    head = DINOHead(in_dim=192, out_dim=64, hidden_dim=32, bottleneck_dim=16)
    student = MaskedPatchWrapper(backbone=dino_vit_tiny(), head=head).double()
    teacher = make_teacher(student)
    views = [torch.randn(3, 3, 32, 32, dtype=torch.float64) for _ in range(2)]
    g = torch.Generator().manual_seed(1)
    masks = [random_block_masks(3, (4, 4), generator=g, probability=1.0) for _ in range(2)]
    with torch.no_grad():
        # the student sees the masked views
        s_out = [student(v, m) for v, m in zip(views, masks, strict=True)]
        t_out = [teacher(v) for v in views]
    everywhere = [torch.ones_like(m) for m in masks]
    expected = MaskedPatchLoss(out_dim=64).double()([s[1] for s in s_out], [t[1] for t in t_out],
                                                    everywhere,
                                                     teacher_temp=0.04)
    out = ibot_training_step(student, teacher, DINOLoss(out_dim=64).double(),
                             MaskedPatchLoss(out_dim=64).double(),
                             views, masks, torch.optim.SGD(student.parameters(), lr=0.0), 0.9,
                             teacher_temp=0.04,
                             all_patches=True)
    assert math.isclose(out["patch_loss"], float(expected), abs_tol=1e-10)
    masked_only = MaskedPatchLoss(out_dim=64).double()([s[1] for s in s_out], [t[1] for t in t_out],
                                                       masks,
                                                        teacher_temp=0.04)
    assert not math.isclose(float(masked_only), float(expected), abs_tol=1e-6)
