"""lovasz_softmax and lovasz_hinge against segmentation-models-pytorch's LovaszLoss (the
authors' code), the defining property on hard predictions, hand cases and gradcheck."""

import pytest
import torch

from segedu.losses import lovasz_grad, lovasz_hinge, lovasz_softmax

from .cases import random_binary, random_logits_target

smp = pytest.importorskip("segmentation_models_pytorch")
smp_lovasz = pytest.importorskip("segmentation_models_pytorch.losses.lovasz")

# target shapes (N, ...). Not (N, L): smp reads 3-D probabilities (N, C, L) as sigmoid outputs
# (B, H, W), so 1-D signals go in as (N, 1, L).
SHAPES = [(2, 5, 6), (1, 4, 4), (3, 1, 7), (2, 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("per_image", [False, True])
def test_softmax_matches_smp(shape, per_image):
    # 4 shapes x 2 per_image x 14 = 112 cases (float32: smp's weights are float32).
    # C >= 2: smp's multiclass code raises for C = 1 (it takes the string 'present' for a list)
    g = torch.Generator().manual_seed(len(shape) + 10 * per_image)
    for case in range(14):
        ignore_index = [None, 255][case % 2]
        logits, target = random_logits_target(
            shape, 2 + case % 5, generator=g, ignore_index=ignore_index, dtype=torch.float32
        )
        if per_image and ignore_index is not None:
            target.view(target.shape[0], -1)[:, 0] = 0  # smp breaks on an all-ignored image
        x = logits.clone().requires_grad_(True)
        ours = lovasz_softmax(x, target, per_image=per_image, ignore_index=ignore_index)
        y = logits.clone().requires_grad_(True)
        theirs = smp.losses.LovaszLoss(
            "multiclass", per_image=per_image, ignore_index=ignore_index
        )(y, target)
        torch.testing.assert_close(ours, theirs)
        ours.backward()
        theirs.backward()
        torch.testing.assert_close(x.grad, y.grad)


@pytest.mark.parametrize("classes", ["all", [0, 2]])
def test_softmax_class_options_match_authors_function(classes):
    g = torch.Generator().manual_seed(4)
    for _ in range(20):
        logits, target = random_logits_target((2, 4, 4), 3, generator=g, dtype=torch.float32)
        ours = lovasz_softmax(logits, target, classes=classes)
        theirs = smp_lovasz._lovasz_softmax(logits.softmax(1), target, classes=classes)
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("per_image", [False, True])
def test_hinge_matches_smp(per_image):
    # 2 x 60 = 120 cases
    g = torch.Generator().manual_seed(20 + per_image)
    for case in range(60):
        ignore_index = [None, 255][case % 2]
        logits, target = random_binary(
            SHAPES[case % 4],
            generator=g,
            ignore_index=ignore_index,
            foreground_present=case % 3 > 0,
        )
        if per_image and ignore_index is not None:
            target.view(target.shape[0], -1)[:, 0] = 0
        x = logits.clone().requires_grad_(True)
        ours = lovasz_hinge(x, target, per_image=per_image, ignore_index=ignore_index)
        y = logits.clone().requires_grad_(True)
        theirs = smp.losses.LovaszLoss("binary", per_image=per_image, ignore_index=ignore_index)(
            y, target
        )
        torch.testing.assert_close(ours, theirs)
        ours.backward()
        theirs.backward()
        torch.testing.assert_close(x.grad, y.grad)


def test_lovasz_grad_hand_computed():
    # truth in the order of decreasing error: (1, 0, 1); |G| = 2.
    # k=1: the true pixel is an error: I = 1, U = 2 -> Delta = 1/2
    # k=2: plus a false positive:     I = 1, U = 3 -> Delta = 2/3
    # k=3: both true pixels missed:   I = 0, U = 3 -> Delta = 1
    # g = (1/2, 2/3 - 1/2, 1 - 2/3) = (1/2, 1/6, 1/3)
    torch.testing.assert_close(
        lovasz_grad(torch.tensor([1, 0, 1])), torch.tensor([1 / 2, 1 / 6, 1 / 3])
    )


def test_softmax_hand_computed():
    # one class-0 pixel and one class-1 pixel, probabilities given directly:
    # pixel a (class 0): p = (0.7, 0.3); pixel b (class 1): p = (0.4, 0.6).
    # class 0: errors a: |1 - 0.7| = 0.3, b: |0 - 0.4| = 0.4 -> sorted b (truth 0), a (truth 1)
    #   |G| = 1: k=1: I = 1, U = 2 -> 1/2; k=2: I = 0, U = 2 -> 1. g = (1/2, 1/2)
    #   loss_0 = 0.4/2 + 0.3/2 = 0.35
    # class 1: errors a: 0.3 (truth 0), b: 0.4 (truth 1) -> sorted b (truth 1), a (truth 0)
    #   k=1: I = 0, U = 1 -> 1; k=2: I = 0, U = 2 -> 1. g = (1, 0) -> loss_1 = 0.4
    # mean over the two present classes: 0.375
    probs = torch.tensor([[[0.7, 0.4], [0.3, 0.6]]], dtype=torch.float64)  # (1, C=2, P=2)
    target = torch.tensor([[0, 1]])
    ours = lovasz_softmax(probs, target, from_logits=False)
    torch.testing.assert_close(ours, torch.tensor(0.375, dtype=torch.float64))


def test_hard_prediction_gives_one_minus_iou():
    # On a one-hot prediction the errors are 0/1 and mark the mispredicted pixels, and the
    # Lovász extension equals the set function there: the loss is 1 - IoU per present class.
    g = torch.Generator().manual_seed(7)
    for case in range(100):
        num_classes = 2 + case % 4
        n, h, w = 1 + case % 2, 3 + case % 3, 4
        pred = torch.randint(0, num_classes, (n, h, w), generator=g)
        target = torch.where(
            torch.rand(n, h, w, generator=g) < 0.6,
            pred,
            torch.randint(0, num_classes, (n, h, w), generator=g),
        )
        probs = torch.nn.functional.one_hot(pred, num_classes).movedim(-1, 1).double()
        losses = []
        for c in range(num_classes):
            if (target == c).any():
                inter = ((pred == c) & (target == c)).sum()
                union = ((pred == c) | (target == c)).sum()
                losses.append(1 - inter / union)
        expected = torch.stack(losses).mean().double()
        torch.testing.assert_close(lovasz_softmax(probs, target, from_logits=False), expected)
        # the same limit from huge logits
        torch.testing.assert_close(lovasz_softmax(200.0 * probs, target), expected)


def test_binary_hard_prediction_gives_one_minus_iou():
    # logits +-1 (margin exactly 1 when right, hinge error 2 when wrong): the loss is
    # 2 (1 - IoU) of the foreground (the extension is positively homogeneous)
    logits = torch.tensor([[1.0, 1.0, -1.0, -1.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[1, 0, 1, 0, 1]])
    # predicted foreground {0, 1, 4}, true {0, 2, 4}: I = 2, U = 4, 1 - IoU = 1/2
    torch.testing.assert_close(lovasz_hinge(logits, target), torch.tensor(1.0, dtype=torch.float64))


def test_empty_and_all_ignored():
    logits = torch.randn(2, 3, 2, 2, requires_grad=True)
    target = torch.full((2, 2, 2), 255)
    for per_image in (False, True):
        loss = lovasz_softmax(logits, target, ignore_index=255, per_image=per_image)
        assert loss == 0
        loss.backward()
        assert (logits.grad == 0).all()
    binary = torch.randn(2, 1, 2, 2, requires_grad=True)
    assert lovasz_hinge(binary, target.unsqueeze(1), ignore_index=255) == 0
    # an image with nothing left counts as 0 in the per-image mean
    target[0] = 1
    both = lovasz_softmax(logits, target, ignore_index=255, per_image=True)
    torch.testing.assert_close(both, lovasz_softmax(logits[:1], target[:1]) / 2)


def test_gradcheck():
    g = torch.Generator().manual_seed(12)
    logits, target = random_logits_target((2, 3, 2), 3, generator=g)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: lovasz_softmax(x, target, per_image=True), (logits,))
    logits = torch.randn(2, 6, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 2, (2, 6), generator=g)
    assert torch.autograd.gradcheck(lambda x: lovasz_hinge(x, target), (logits,))


def test_bad_input():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(TypeError, match="integer"):
        lovasz_softmax(logits, target.float())
    with pytest.raises(ValueError, match="shape"):
        lovasz_softmax(logits, target[:, 0])
    with pytest.raises(ValueError, match="outside"):
        lovasz_softmax(logits, target + 1)
    with pytest.raises(ValueError, match="classes"):
        lovasz_softmax(logits, target, classes="some")
    with pytest.raises(ValueError, match="classes"):
        lovasz_softmax(logits, target, classes=[5])
    with pytest.raises(ValueError, match="outside"):
        lovasz_hinge(logits[:, 0], target)
