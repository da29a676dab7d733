"""Every official checkpoint's address is the one its publishing library gives, never a guess.

torchvision's weight enums (FCN, DeepLabv3, Faster and Mask R-CNN, RetinaNet, SSD) and timm's
pretrained configs (DINO) carry the URLs; segment-anything publishes its three checkpoints in
its README only, so for SAM the test checks the host and the file names that segment-anything's
``build_sam`` loads.
"""

from __future__ import annotations

import re

import pytest
import timm
import torchvision

from segedu.models.foundation.dinov2 import HF_REPOS as DINOV2_REPOS
from segedu.models.registry import official_file, official_models, official_url

TORCHVISION = {
    "fcn_resnet50": torchvision.models.segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    "deeplabv3_resnet50":
        torchvision.models.segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    "fasterrcnn_resnet50_fpn": torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
    "maskrcnn_resnet50_fpn": torchvision.models.detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
    "swin_t": torchvision.models.Swin_T_Weights.IMAGENET1K_V1,
    "convnext_tiny": torchvision.models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1,
    "retinanet_resnet50_fpn":
        torchvision.models.detection.RetinaNet_ResNet50_FPN_Weights.COCO_V1,
    "ssd300_vgg16": torchvision.models.detection.SSD300_VGG16_Weights.COCO_V1,
}
TIMM = {"dino_vits16": "vit_small_patch16_224.dino", "dino_vitb16": "vit_base_patch16_224.dino"}
# HuggingFace Hub repositories, each read as its model.safetensors: DINOv2's are the Hub's
# facebook/dinov2-* collection, whose base models transformers' configuration docstrings name
HUB = {**DINOV2_REPOS}
# EoMT's COCO panoptic EoMT-L: the checkpoint transformers' EomtConfig docstring names
HUB["eomt_large_640"] = "tue-mps/coco_panoptic_eomt_large_640"
# SegFormer: NVIDIA's ADE20K fine-tuned models (B0-B4 at 512 x 512, B5 at 640 x 640); transformers'
# SegformerConfig docstring names B0's
HUB.update({f"segformer_b{i}": f"nvidia/segformer-b{i}-finetuned-ade-512-512" for i in range(5)})
HUB["segformer_b5"] = "nvidia/segformer-b5-finetuned-ade-640-640"
# SAM 2.1 Hiera-T: the checkpoint transformers' Sam2Config docstring names
HUB["sam2_hiera_tiny"] = "facebook/sam2.1-hiera-tiny"
# Hub repositories read as their pytorch_model.bin: CLIPSeg's refined rd64, which transformers'
# CLIPSegForImageSegmentation docstring loads (its main branch has held that file since 2022)
HUB_PICKLES = {"clipseg_rd64": "CIDAS/clipseg-rd64-refined"}
# OneFormer Swin-T on ADE20K: the checkpoint transformers' OneFormerConfig docstring names (its
# pytorch_model.bin: the file's presence on the Hub is not checked offline)
HUB_PICKLES["oneformer_swin_tiny"] = "shi-labs/oneformer_ade20k_swin_tiny"


@pytest.mark.parametrize("name, weights", TORCHVISION.items())
def test_torchvision_models_use_torchvisions_weight_enum(name, weights):
    assert official_url(name) == weights.url
    assert official_file(name).name == weights.url.rsplit("/", 1)[1]


@pytest.mark.parametrize("name, tag", TIMM.items())
def test_dino_models_use_timms_pretrained_config(name, tag):
    assert official_url(name) == timm.models.get_pretrained_cfg(tag).url


@pytest.mark.parametrize("name, repo", HUB.items())
def test_hub_models_read_their_repositorys_safetensors(name, repo):
    assert official_url(name) == f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
    assert official_file(name).name == f"{repo.replace('/', '--')}--model.safetensors"


def test_transformers_names_the_dinov2_base_repositories():
    transformers = pytest.importorskip("transformers")
    assert HUB["dinov2_vitb14"] in transformers.Dinov2Config.__doc__
    assert HUB["dinov2_vitb14_reg"] in transformers.Dinov2WithRegistersConfig.__doc__


def test_transformers_names_the_segformer_repository():
    transformers = pytest.importorskip("transformers")
    assert HUB["segformer_b0"] in transformers.SegformerConfig.__doc__


def test_transformers_names_the_sam2_repository():
    transformers = pytest.importorskip("transformers")
    assert HUB["sam2_hiera_tiny"] in (transformers.Sam2Config.__doc__
                                      + transformers.Sam2VideoConfig.__doc__)


def test_transformers_names_the_eomt_repository():
    transformers = pytest.importorskip("transformers")
    assert HUB["eomt_large_640"] in transformers.EomtConfig.__doc__


@pytest.mark.parametrize("name, repo", HUB_PICKLES.items())
def test_hub_models_read_their_repositorys_pytorch_model_bin(name, repo):
    assert official_url(name) == f"https://huggingface.co/{repo}/resolve/main/pytorch_model.bin"
    assert official_file(name).name == f"{repo.replace('/', '--')}--pytorch_model.bin"


def test_transformers_names_the_clipseg_repository():
    transformers = pytest.importorskip("transformers")
    assert HUB_PICKLES["clipseg_rd64"] in transformers.CLIPSegForImageSegmentation.forward.__doc__


def test_transformers_names_the_oneformer_repository():
    transformers = pytest.importorskip("transformers")
    assert HUB_PICKLES["oneformer_swin_tiny"] in transformers.OneFormerConfig.__doc__


def test_every_official_model_is_covered():
    sam = {"sam_vit_b", "sam_vit_l", "sam_vit_h"}
    covered = set(TORCHVISION) | set(TIMM) | set(HUB) | set(HUB_PICKLES)
    assert set(official_models()) - sam <= covered, official_models()
    # segment-anything's README: <name>_<6 hex digits>.pth
    for name in sam & set(official_models()):
        pattern = rf"https://dl\.fbaipublicfiles\.com/segment_anything/{name}_[0-9a-f]{{6}}\.pth"
        assert re.fullmatch(pattern, official_url(name)), official_url(name)
