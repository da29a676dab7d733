"""The registered DINO backbones: names, parameter counts, key names equal to timm's DINO models,
official checkpoints loaded strictly (the download replaced by timm's random state dict)."""

import timm
import torch

import segedu.models.foundation.dino  # noqa: F401  (registers the models)
from segedu.models import registry
from segedu.models.foundation.dino import DINO_VITB16_URL, DINO_VITS16_URL, dino_vit_tiny
from segedu.models.registry import get_model, list_models
from segedu.nn.vit import VisionTransformer


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registered_with_official_urls():
    assert {"dino_vits16", "dino_vitb16", "dino_vit_tiny"} <= set(list_models())
    assert registry.official_url("dino_vits16") == DINO_VITS16_URL
    assert registry.official_url("dino_vitb16") == DINO_VITB16_URL
    assert (DINO_VITS16_URL
            == "https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth")
    assert (DINO_VITB16_URL
            == "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth")
    assert "dino_vit_tiny" not in registry.official_models()
    # timm's DINO configurations point at the same files
    assert timm.models.get_pretrained_cfg("vit_small_patch16_224.dino").url == DINO_VITS16_URL
    assert timm.models.get_pretrained_cfg("vit_base_patch16_224.dino").url == DINO_VITB16_URL


def test_keys_shapes_and_parameter_counts_equal_timm():
    """Built on the meta device (no memory, no time): same names, shapes and counts as timm's."""
    with torch.device("meta"):
        pairs = [
            (get_model("dino_vits16"),
             timm.create_model("vit_small_patch16_224.dino", pretrained=False), 21_665_664),
            (get_model("dino_vitb16"),
             timm.create_model("vit_base_patch16_224.dino", pretrained=False), 85_798_656),
        ]
    for ours, theirs, expected in pairs:
        assert isinstance(ours, VisionTransformer)
        assert ({k: v.shape for k, v in ours.state_dict().items()}
                == {k: v.shape for k, v in theirs.state_dict().items()})
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert count(ours) == count(theirs) == expected


def test_tiny_parameter_count_and_sizes():
    """patch 8, D 192, 4 blocks, 3 heads, 8 x 8 positional grid; counted layer by layer."""
    d, depth, p, grid = 192, 4, 8, 8
    block = ((2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (2 * d) + (d * 4 * d + 4 * d)
             + (4 * d * d + d))
    expected = (3 * p * p * d + d) + d + (1 + grid * grid) * d + depth * block + 2 * d
    model = get_model("dino_vit_tiny").eval()
    assert expected == 1_829_568 == count(model)
    with torch.no_grad():
        for size in (64, 128, 96):
            assert (model.forward_features(torch.rand(2, 3, size, size)).shape
                    == (2, 1 + (size // 8) ** 2, 192))
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 192)
    assert count(dino_vit_tiny(depth=2)) < expected  # keyword overrides


def test_official_weights_load_strictly(monkeypatch):
    """``weights="official"``: the downloaded state dict (here timm's ViT-S/16 DINO, random) loads
    strictly and the model then gives timm's final tokens."""
    torch.manual_seed(0)
    reference = timm.create_model("vit_small_patch16_224.dino", pretrained=False).eval()
    asked = []

    def fake_download(url, **kwargs):
        asked.append(url)
        return reference.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    model = get_model("dino_vits16", weights="official").eval()
    assert asked == [DINO_VITS16_URL]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), reference.forward_features(x),
                                   atol=1e-4, rtol=1e-4)


def test_local_checkpoint_loads(tmp_path):
    torch.manual_seed(0)
    source = dino_vit_tiny()
    torch.save({"model": source.state_dict()}, tmp_path / "tiny.pth")
    loaded = get_model("dino_vit_tiny", weights=tmp_path / "tiny.pth")
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
