"""The zoo's U-Nets on three encoders (chapter 14: a U-Net on ConvNeXt or Swin beside the ResNet
encoder): one decoder, encoders of the same stage widths and depths, the semantic family's
recipe and budget, and a short run of each writes its checkpoint and card."""

from __future__ import annotations

import pytest
import torch

from segedu.models import get_model
from segedu.zoo import ZOO, Task
from segedu.zoo import semantic as semantic_recipe
from segedu.zoo.train import recipe_for

ENCODERS = ["unet_resnet", "unet_swin_t", "unet_convnext_tiny"]


def test_one_decoder_on_encoders_of_the_same_widths_and_depths():
    models = {name: get_model(name, **ZOO[name].kwargs) for name in ENCODERS}
    for name, model in models.items():
        entry = ZOO[name]
        assert entry.task is Task.SEMANTIC and recipe_for(name) is semantic_recipe.RECIPE
        assert (entry.steps, entry.batch, entry.lr) == (ZOO["unet"].steps, ZOO["unet"].batch,
                                                        ZOO["unet"].lr)
        assert model.encoder.stage_channels == (16, 32, 64, 128), name
        # the semantic family's size class (the zoo's U-Net: 486,598; DeepLabv3+ about 0.9 M)
        assert 500_000 < sum(p.numel() for p in model.parameters()) < 1_000_000, name
    resnet = models["unet_resnet"].encoder
    assert [len(getattr(resnet, f"layer{i}")) for i in (1, 2, 3, 4)] == [2, 2, 2, 2]
    assert [len(stage.blocks) for stage in models["unet_swin_t"].encoder.stages] == [2, 2, 2, 2]
    assert [len(stage.blocks) for stage in models["unet_convnext_tiny"].encoder.stages] == [
        2, 2, 2, 2]
    # the decoder's widths at strides 16, 8 and 4 and at the image are the same on the three
    # encoders (the ResNet adds a block at stride 2, its stem's map)
    widths = {name: [block.conv2[0].out_channels for block in model.decoder.blocks]
              for name, model in models.items()}
    assert widths["unet_resnet"] == [64, 32, 16, 16, 16]
    assert widths["unet_swin_t"] == widths["unet_convnext_tiny"] == [64, 32, 16, 16]


@pytest.mark.parametrize("name", ["unet_swin_t", "unet_convnext_tiny"])
def test_a_short_run_writes_a_checkpoint_and_a_card(name, tmp_path):
    config = semantic_recipe.SemanticConfig(name, steps=2, scenes=16, test_scenes=4,
                                            out=tmp_path, device="cpu")
    semantic_recipe.train(config)
    card = (tmp_path / f"{name}_scenes.md").read_text()
    assert "2 steps" in card and "| **mIoU** |" in card
    model = get_model(name, **ZOO[name].kwargs)
    state = torch.load(tmp_path / f"{name}_scenes.pt", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
