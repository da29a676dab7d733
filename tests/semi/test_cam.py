"""segedu.semi: class activation maps and their pseudo-masks, against hand computations.

- a CAM is the weighted sum of the feature maps (a hand-made 2 x 2 case, and ``F.conv2d`` with the
  linear layer's weights as 1x1 kernels on random features);
- Zhou et al.'s identity: the classifier's score is the spatial mean of the CAM plus the bias;
- the pseudo-masks: normalisation, absent classes, threshold on hand-made maps.
"""

import pytest
import torch
import torch.nn.functional as F

from segedu.semi import (
    CAMClassifier,
    cam_pseudo_masks,
    class_activation_maps,
    image_level_labels,
    normalize_cams,
)


def test_cam_is_the_weighted_sum_of_the_feature_maps():
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]],      # channel 0
                              [[0.0, 1.0], [0.0, 2.0]]]])    # channel 1, (1, 2, 2, 2)
    weight = torch.tensor([[1.0, -1.0], [0.5, 2.0]])         # (K=2, C=2)
    cams = class_activation_maps(features, weight)
    # by hand: class 0 = f0 - f1, class 1 = 0.5 f0 + 2 f1
    assert cams.tolist() == [[[[1.0, 1.0], [3.0, 2.0]], [[0.5, 3.0], [1.5, 6.0]]]]
    torch.manual_seed(0)
    features, weight = torch.randn(3, 7, 5, 4), torch.randn(6, 7)
    torch.testing.assert_close(class_activation_maps(features, weight),
                               F.conv2d(features, weight[:, :, None, None]))
    with pytest.raises(ValueError, match="same C"):
        class_activation_maps(features, weight[:, :6])


def test_the_score_is_the_mean_of_the_cam_plus_the_bias():
    torch.manual_seed(0)
    model = CAMClassifier(num_classes=4, width=4).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits, cams = model(images), model.cams(images)
        assert cams.shape == (2, 4, 4, 4)  # output stride 8
        torch.testing.assert_close(logits, cams.mean(dim=(2, 3)) + model.classifier.bias,
                                   rtol=1e-5, atol=1e-5)
        assert model.upsampled_cams(images).shape == (2, 4, 32, 32)


def test_image_level_labels_tick_the_classes_present():
    semantic = torch.tensor([[[0, 0], [2, 2]], [[1, 1], [1, 1]]])
    assert image_level_labels(semantic, 4).tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        image_level_labels(semantic[0], 4)


def test_pseudo_masks_from_cams():
    # one image, three classes, 1 x 4 pixels
    cams = torch.tensor([[[[4.0, 2.0, 0.0, -1.0]],    # class 0: max 4 -> 1, 0.5, 0, 0
                          [[0.0, 3.0, 3.0, 0.3]],     # class 1: max 3 -> 0, 1, 1, 0.1
                          [[9.0, 9.0, 9.0, 9.0]]]])   # class 2: strongest, but absent
    torch.testing.assert_close(normalize_cams(cams)[0, :2, 0],
                               torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.0, 1.0, 1.0, 0.1]]),
                               rtol=0, atol=1e-5)
    present = torch.tensor([[1, 1, 0]])
    masks = cam_pseudo_masks(cams, present, threshold=0.3, ignore_index=255)
    # pixel 3: best present score 0.1 < 0.3 -> left out; class 2 never wins (absent)
    assert masks.tolist() == [[[0, 1, 1, 255]]]
    everything = cam_pseudo_masks(cams, torch.ones(1, 3), threshold=0.0)
    # present, class 2's flat map normalises to 1 everywhere (up to eps, whose share is smallest
    # for the largest maximum): it wins every pixel
    assert everything.tolist() == [[[2, 2, 2, 2]]]
    with pytest.raises(ValueError, match="present must be"):
        cam_pseudo_masks(cams, present[:, :2], threshold=0.3)
    with pytest.raises(ValueError, match="threshold"):
        cam_pseudo_masks(cams, present, threshold=2.0)
