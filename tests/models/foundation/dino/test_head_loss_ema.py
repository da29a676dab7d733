"""DINO's head, loss, teacher EMA and schedules against lightly (``DINOProjectionHead``,
``DINOLoss``, ``update_momentum``, ``cosine_schedule``) and against transcriptions of DINO's
official code (``DINOLoss`` with its loop over crop pairs, ``cosine_scheduler``), in float64 with
tolerance 1e-12 unless said otherwise."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segedu.models.foundation.dino import (
    DINOHead,
    DINOLoss,
    WeightNormLinear,
    cosine_momentum,
    ema_update,
    make_teacher,
    teacher_temperature,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lightly warns about deprecated torch APIs
    from lightly.loss import DINOLoss as LightlyDINOLoss
    from lightly.models.modules import DINOProjectionHead
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule

TOL = dict(atol=1e-12, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# projection head


def test_weight_norm_linear_equals_torch_weight_norm():
    torch.manual_seed(0)
    ours = WeightNormLinear(in_features=8, out_features=5, freeze_norm=False).double()
    with torch.no_grad():
        ours.weight_g.uniform_(0.5, 2.0)
    reference = torch.nn.utils.parametrizations.weight_norm(
        torch.nn.Linear(8, 5, bias=False).double())
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(ours.weight_g)
        reference.parametrizations.weight.original1.copy_(ours.weight_v)
    x = torch.randn(4, 8, dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference(x), **TOL)
    torch.testing.assert_close(ours.weight.norm(dim=1), ours.weight_g[:, 0], **TOL)


def test_head_equals_lightly_projection_head():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = DINOProjectionHead(input_dim=24, hidden_dim=32, bottleneck_dim=16,
                                       output_dim=40).double()
    ours = DINOHead(in_dim=24, out_dim=40, hidden_dim=32, bottleneck_dim=16).double()
    with torch.no_grad():  # random everything, so that nothing is compared at its initial value
        for p in reference.parameters():
            p.normal_()
    mapped = {k.replace("layers.", "mlp."): v for k, v in reference.state_dict().items()}
    ours.load_state_dict(mapped, strict=True)
    x = torch.randn(6, 24, dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference(x), **TOL)
    # gradients too (weight_g has none: frozen in both)
    ours(x).square().sum().backward()
    reference(x).square().sum().backward()
    assert ours.last_layer.weight_g.grad is None and reference.last_layer.weight_g.grad is None
    torch.testing.assert_close(ours.last_layer.weight_v.grad, reference.last_layer.weight_v.grad,
                               atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.mlp[0].weight.grad, reference.layers[0].weight.grad, atol=1e-10,
                               rtol=1e-10)


def test_head_structure_and_cosine_outputs():
    head = DINOHead(in_dim=24, out_dim=40, hidden_dim=32, bottleneck_dim=16)
    assert [type(m).__name__ for m in head.mlp] == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    assert not head.last_layer.weight_g.requires_grad and (head.last_layer.weight_g == 1).all()
    out = head(torch.randn(5, 24) * 10)
    assert out.shape == (5, 40) and out.abs().max() <= 1 + 1e-6  # cosines of unit vectors
    assert DINOHead(in_dim=4, out_dim=6, norm_last_layer=False).last_layer.weight_g.requires_grad
    assert len(DINOHead(in_dim=4, out_dim=6, hidden_dim=8, bottleneck_dim=3, num_layers=1).mlp) == 1
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        head(torch.randn(2, 3, 24))


# ---------------------------------------------------------------------------------------------
# loss


class OfficialDINOLoss:
    """Transcription of DINO's ``DINOLoss.forward`` (one process): crops concatenated along
    the batch."""

    def __init__(self, out_dim, ncrops, student_temp=0.1, center_momentum=0.9):
        self.student_temp, self.ncrops, self.center_momentum = student_temp, ncrops, center_momentum
        self.center = torch.zeros(1, out_dim, dtype=torch.float64)

    def __call__(self, student_output, teacher_output, temp):
        student_out = (student_output / self.student_temp).chunk(self.ncrops)
        teacher_out = F.softmax((teacher_output - self.center) / temp, dim=-1).detach().chunk(2)
        total_loss, n_loss_terms = 0, 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq:
                    continue
                loss = torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1)
                total_loss += loss.mean()
                n_loss_terms += 1
        total_loss /= n_loss_terms
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True) / len(teacher_output)
        self.center = self.center * self.center_momentum + batch_center * (1 - self.center_momentum)
        return total_loss


@pytest.mark.parametrize("n_crops", [2, 3, 6])
def test_loss_equals_dino_loop_and_lightly(n_crops):
    """Three steps (so that the centre matters), values, centres and student gradients.

    lightly turns the teacher temperature into a float32 tensor (``torch.tensor(teacher_temp)``):
    with 0.04 its loss differs from DINO's float64 one by 1e-10 relative. The temperatures here are
    powers of two or small dyadic fractions, exact in float32, so that all three agree to 1e-12."""
    torch.manual_seed(n_crops)
    k, b = 17, 5
    ours = DINOLoss(out_dim=k).double()
    official = OfficialDINOLoss(k, n_crops)
    lightly = LightlyDINOLoss(output_dim=k, teacher_temp=0.04, warmup_teacher_temp=0.04).double()
    for temp in [0.03125, 0.0625, 0.046875]:
        student = [torch.randn(b, k, dtype=torch.float64, requires_grad=True)
                   for _ in range(n_crops)]
        teacher = [torch.randn(b, k, dtype=torch.float64) * 3 for _ in range(2)]
        value = ours(student, teacher, teacher_temp=temp)
        (grad,) = torch.autograd.grad(value, student[-1])
        s_cat = torch.cat(student)
        expected = official(s_cat, torch.cat(teacher), temp)
        (expected_grad,) = torch.autograd.grad(expected, s_cat)
        from_lightly = lightly(teacher, student, teacher_temp=temp)
        torch.testing.assert_close(value, expected, **TOL)
        torch.testing.assert_close(value, from_lightly.to(value.dtype), **TOL)
        torch.testing.assert_close(grad, expected_grad[-b:], **TOL)
        torch.testing.assert_close(ours.center, official.center, **TOL)
        torch.testing.assert_close(ours.center, lightly.center.reshape(1, k).to(torch.float64),
                                   **TOL)
        assert ours.center.abs().sum() > 0


def test_loss_formula_by_hand_and_centre_update():
    """Two crops: L = 1/2 [CE(P_t1, P_s2) + CE(P_t2, P_s1)]; centre = 0.1 * teacher mean after
    one step."""
    torch.manual_seed(1)
    s = [torch.randn(3, 4, dtype=torch.float64) for _ in range(2)]
    t = [torch.randn(3, 4, dtype=torch.float64) for _ in range(2)]
    loss = DINOLoss(out_dim=4, teacher_temp=0.5, student_temp=0.2).double()
    value = loss(s, t)

    def ce(t_i, s_v):  # NumPy: softmax(t / 0.5) against log_softmax(s / 0.2), batch mean
        p = np.exp(t_i.numpy() / 0.5)
        p /= p.sum(1, keepdims=True)
        z = s_v.numpy() / 0.2
        log_q = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float((-(p * log_q).sum(1)).mean())

    assert value.item() == pytest.approx(0.5 * (ce(t[0], s[1]) + ce(t[1], s[0])), rel=1e-12)
    torch.testing.assert_close(loss.center, 0.1 * torch.cat(t).mean(0, keepdim=True), **TOL)
    # a teacher output that requires grad gets none (the teacher is detached)
    t_grad = [x.clone().requires_grad_() for x in t]
    s_grad = [x.clone().requires_grad_() for x in s]
    loss(s_grad, t_grad).backward()
    assert t_grad[0].grad is None and s_grad[0].grad is not None


def test_loss_bad_inputs():
    loss = DINOLoss(out_dim=4)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        loss([torch.zeros(2, 4), torch.zeros(2, 5)], [torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="same shape"):
        loss([torch.zeros(2, 4)] * 3, [torch.zeros(3, 4)] * 2)
    with pytest.raises(ValueError, match="at least 2 student crops"):
        loss([torch.zeros(2, 4)], [torch.zeros(2, 4)])
    with pytest.raises(TypeError, match="list"):
        loss(torch.zeros(2, 4), [torch.zeros(2, 4)])


def test_teacher_temperature_schedule_equals_dino_and_lightly():
    epochs, warmup = 50, 30
    dino = np.concatenate((np.linspace(0.04, 0.07, warmup), np.ones(epochs - warmup) * 0.07))
    lightly = LightlyDINOLoss(output_dim=4, warmup_teacher_temp=0.04, teacher_temp=0.07,
                              warmup_teacher_temp_epochs=warmup)
    for epoch in range(epochs):
        ours = teacher_temperature(epoch, warmup_temp=0.04, final_temp=0.07, warmup_epochs=warmup)
        assert ours == pytest.approx(dino[epoch], abs=1e-15)
        theirs = lightly.teacher_temp_schedule[epoch] if epoch < warmup else lightly.teacher_temp
        assert ours == pytest.approx(float(theirs), abs=1e-7)  # lightly's schedule is float32
    assert teacher_temperature(0) == 0.04


# ---------------------------------------------------------------------------------------------
# teacher: EMA and momentum schedule


def test_ema_update_equals_formula_and_lightly():
    torch.manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.GELU(),
                                  torch.nn.Linear(3, 2)).double()
    teacher = make_teacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    for a, b in zip(student.parameters(), teacher.parameters(), strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    lightly_teacher = make_teacher(teacher)
    before = [p.clone() for p in teacher.parameters()]
    ema_update(teacher=teacher, student=student, momentum=0.9)
    update_momentum(student, lightly_teacher, m=0.9)
    for t, t0, s, lt in zip(teacher.parameters(), before, student.parameters(),
                            lightly_teacher.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s, **TOL)
        torch.testing.assert_close(t, lt, **TOL)
    with pytest.raises(ValueError, match="momentum"):
        ema_update(teacher=teacher, student=student, momentum=1.5)
    with pytest.raises(ValueError, match="differ"):
        ema_update(teacher=torch.nn.Linear(2, 2), student=student, momentum=0.5)


def dino_cosine_scheduler(base_value, final_value, epochs, niter_per_ep):
    """Transcription of DINO's ``utils.cosine_scheduler`` without warm-up."""
    iters = np.arange(epochs * niter_per_ep)
    return final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / len(iters)))


def test_cosine_momentum_equals_dino_and_lightly():
    total = 3 * 7
    dino = dino_cosine_scheduler(0.996, 1.0, 3, 7)
    for step in range(total):
        ours = cosine_momentum(step, total)
        assert ours == pytest.approx(dino[step], abs=1e-15)
        assert ours == pytest.approx(cosine_schedule(step, total + 1, 0.996, 1.0), abs=1e-15)
    assert cosine_momentum(0, total) == 0.996 and cosine_momentum(total - 1, total) < 1.0
    assert cosine_momentum(total, total) == pytest.approx(1.0)
    assert cosine_momentum(5, 10, base=0.9, final=0.99) == pytest.approx(0.945)
    with pytest.raises(ValueError, match="total_steps"):
        cosine_momentum(0, 0)
    assert math.isfinite(cosine_momentum(3, 4))
