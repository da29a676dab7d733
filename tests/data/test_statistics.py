"""segedu.data.IMAGENET_MEAN / IMAGENET_STD against the preprocessing of torchvision's weights."""

import pytest
from torchvision.models import ResNet50_Weights, ViT_B_16_Weights

from segedu.data import IMAGENET_MEAN, IMAGENET_STD


@pytest.mark.parametrize(
    "weights", [ResNet50_Weights.IMAGENET1K_V2, ViT_B_16_Weights.IMAGENET1K_V1]
)
def test_imagenet_statistics_are_torchvisions(weights):
    preprocess = weights.transforms()  # builds the preset only, downloads nothing
    assert tuple(preprocess.mean) == IMAGENET_MEAN
    assert tuple(preprocess.std) == IMAGENET_STD
