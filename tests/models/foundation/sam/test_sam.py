"""The whole model: ``Sam.forward`` against segment-anything's ``Sam`` (same random weights, small
configuration), the builders' state-dict keys and parameter counts against segment-anything's
``sam_model_registry``, and loading a checkpoint in the official format through ``get_model``.

Tolerances: low-resolution logits and IoU predictions ``atol=1e-5`` (same operations in the same
order). Thresholded masks are compared exactly wherever the reference logit (at full size) is
farther than 1e-4 from the threshold 0; pixels nearer to it could flip on a last-bit difference
(there are none in these tests in practice, but the check states the honest claim).
"""

import pytest
import torch
from segment_anything import sam_model_registry

import segedu.models.foundation.sam as sam
from segedu.models import registry
from segedu.models.registry import get_model

from ._pairs import CONFIG, sams


@pytest.fixture(scope="module")
def pair():
    return sams(seed=11)


def _image(h, w, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), generator=gen).float()


def _compare_outputs(reference, ours, batched_input, multimask):
    out = ours(batched_input, multimask_output=multimask)
    expected = reference(batched_input, multimask_output=multimask)
    assert len(out) == len(expected) == len(batched_input)
    for o, e, record in zip(out, expected, batched_input, strict=True):
        assert set(o) == {"masks", "iou_predictions", "low_res_logits"}
        assert o["masks"].dtype == torch.bool and o["masks"].shape == e["masks"].shape
        assert o["masks"].shape[-2:] == tuple(record["original_size"])
        torch.testing.assert_close(o["low_res_logits"], e["low_res_logits"], rtol=0, atol=1e-5)
        torch.testing.assert_close(o["iou_predictions"], e["iou_predictions"], rtol=0, atol=1e-5)
        logits = reference.postprocess_masks(
            e["low_res_logits"], record["image"].shape[-2:], record["original_size"]
        )
        sure = (logits - reference.mask_threshold).abs() > 1e-4
        assert torch.equal(o["masks"][sure], e["masks"][sure])
    return out


@pytest.mark.parametrize("multimask", [True, False])
def test_forward_matches_reference_for_every_prompt_type(pair, multimask):
    reference, ours = pair
    torch.manual_seed(0)
    batched_input = [
        {  # points only (gets the padding point), a non-square resized image
            "image": _image(96, 128, 0),
            "original_size": (60, 80),
            "point_coords": torch.rand(2, 3, 2) * torch.tensor([128.0, 96.0]),
            "point_labels": torch.tensor([[1, 0, 1], [1, 1, 0]]),
        },
        {  # a box only
            "image": _image(128, 100, 1),
            "original_size": (256, 200),
            "boxes": torch.tensor([[10.0, 20.0, 80.0, 110.0]]),
        },
        {  # points and a box
            "image": _image(128, 128, 2),
            "original_size": (128, 128),
            "point_coords": torch.tensor([[[30.0, 40.0]], [[90.0, 70.0]]]),
            "point_labels": torch.tensor([[1], [0]]),
            "boxes": torch.tensor([[5.0, 5.0, 60.0, 70.0], [50.0, 40.0, 120.0, 127.0]]),
        },
        {  # a mask input (e.g. the logits of an earlier prediction) with a point
            "image": _image(64, 128, 3),
            "original_size": (50, 100),
            "point_coords": torch.tensor([[[64.0, 30.0]]]),
            "point_labels": torch.tensor([[1]]),
            "mask_inputs": torch.randn(1, 1, 32, 32) * 5,
        },
        {  # a mask input alone
            "image": _image(128, 64, 4),
            "original_size": (128, 64),
            "mask_inputs": torch.randn(3, 1, 32, 32) * 5,
        },
    ]
    out = _compare_outputs(reference, ours, batched_input, multimask)
    m = 3 if multimask else 1
    assert out[0]["masks"].shape == (2, m, 60, 80) and out[0]["low_res_logits"].shape == (
        2,
        m,
        32,
        32,
    )
    assert out[4]["iou_predictions"].shape == (3, m)
    # random weights still give non-trivial masks (the comparison is not of empty masks)
    assert 0 < torch.cat([o["masks"].flatten() for o in out]).float().mean() < 1


def test_preprocess_and_postprocess_match_reference(pair):
    reference, ours = pair
    image = _image(80, 128, 5)
    torch.testing.assert_close(ours.preprocess(image), reference.preprocess(image), rtol=0, atol=0)
    logits = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(
        ours.postprocess_masks(logits, (80, 128), (45, 72)),
        reference.postprocess_masks(logits, (80, 128), (45, 72)),
        rtol=0,
        atol=0,
    )


def test_forward_input_errors(pair):
    _, ours = pair
    with pytest.raises(ValueError, match="original_size"):
        ours([{"image": _image(128, 128, 0)}], multimask_output=True)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        ours([{"image": torch.zeros(128, 128), "original_size": (128, 128)}], multimask_output=True)
    with pytest.raises(ValueError, match="ResizeLongestSide"):
        ours([{"image": _image(100, 200, 0), "original_size": (100, 200)}], multimask_output=True)
    with pytest.raises(ValueError, match="point_labels"):
        ours(
            [
                {
                    "image": _image(128, 128, 0),
                    "original_size": (128, 128),
                    "point_coords": torch.zeros(1, 1, 2),
                }
            ],
            True,
        )


def test_sam_vit_b_state_dict_keys_shapes_and_count_equal_reference():
    """Built plainly once (94M parameters, no forward)."""
    torch.manual_seed(0)
    ours, reference = sam.sam_vit_b(), sam_model_registry["vit_b"]()
    ours_sd, ref_sd = ours.state_dict(), reference.state_dict()
    assert list(ours_sd) == list(ref_sd)
    assert all(ours_sd[k].shape == v.shape for k, v in ref_sd.items())
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 93_735_472
    assert sum(p.numel() for p in ours.image_encoder.parameters()) == 89_670_912
    assert sum(p.numel() for p in ours.mask_decoder.parameters()) == 4_058_340
    assert "pixel_mean" not in ours_sd  # not persistent, as in segment-anything
    ours.load_state_dict(ref_sd, strict=True)


@pytest.mark.parametrize(
    "name, ref_name, count",
    [("sam_vit_l", "vit_l", 312_342_832), ("sam_vit_h", "vit_h", 641_090_608)],
)
def test_large_builders_parameter_counts_and_keys(name, ref_name, count):
    """Built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        ours, reference = get_model(name), sam_model_registry[ref_name]()
    assert (
        sum(p.numel() for p in ours.parameters())
        == sum(p.numel() for p in reference.parameters())
        == count
    )
    ours_sd, ref_sd = ours.state_dict(), reference.state_dict()
    assert list(ours_sd) == list(ref_sd)
    assert all(ours_sd[k].shape == v.shape for k, v in ref_sd.items())


def test_registry_and_official_urls():
    for name in ("sam_vit_b", "sam_vit_l", "sam_vit_h", "sam_tiny"):
        assert name in registry.list_models()
    base = "https://dl.fbaipublicfiles.com/segment_anything/"
    assert registry.official_url("sam_vit_b") == base + "sam_vit_b_01ec64.pth"
    assert registry.official_url("sam_vit_l") == base + "sam_vit_l_0b3195.pth"
    assert registry.official_url("sam_vit_h") == base + "sam_vit_h_4b8939.pth"
    assert "sam_tiny" not in registry.official_models()


def test_sam_tiny_parameter_count_and_shapes():
    model = get_model("sam_tiny")
    assert sum(p.numel() for p in model.parameters()) == 1_018_532
    assert sum(p.numel() for p in model.image_encoder.parameters()) == 588_896
    assert sum(p.numel() for p in model.prompt_encoder.parameters()) == 2_540
    assert sum(p.numel() for p in model.mask_decoder.parameters()) == 427_096
    out = model(
        [
            {
                "image": _image(128, 96, 0),
                "original_size": (128, 96),
                "point_coords": torch.tensor([[[40.0, 50.0]]]),
                "point_labels": torch.tensor([[1]]),
            }
        ],
        True,
    )
    assert out[0]["masks"].shape == (1, 3, 128, 96) and out[0]["low_res_logits"].shape == (
        1,
        3,
        64,
        64,
    )
    # keyword-configurable
    smaller = get_model(
        "sam_tiny", patch_size=16, encoder_depth=2, encoder_global_attn_indexes=(1,)
    )
    assert (
        smaller.prompt_encoder.image_embedding_size == (8, 8)
        and len(smaller.image_encoder.blocks) == 2
    )


def test_official_format_checkpoint_loads_through_get_model(pair, tmp_path):
    """A checkpoint in segment-anything's format (a bare state dict) loads strictly into a
    ``sam_vit_b`` built with the small test configuration, and gives the reference's outputs."""
    reference, _ = pair
    path = tmp_path / "sam_small.pth"
    torch.save(reference.state_dict(), path)
    c = CONFIG
    model = get_model(
        "sam_vit_b",
        weights=path,
        image_size=c["img_size"],
        patch_size=c["patch"],
        window_size=c["window"],
        encoder_embed_dim=c["embed"],
        encoder_depth=c["depth"],
        encoder_num_heads=c["heads"],
        encoder_global_attn_indexes=c["global_idx"],
        prompt_embed_dim=c["dim"],
        mask_in_chans=c["mask_chans"],
        decoder_num_heads=c["dec_heads"],
        decoder_mlp_dim=c["dec_mlp"],
        iou_head_hidden_dim=c["iou_hidden"],
    )
    record = {
        "image": _image(128, 128, 9),
        "original_size": (64, 64),
        "boxes": torch.tensor([[4.0, 8.0, 100.0, 90.0]]),
    }
    _compare_outputs(reference, model, [record], multimask=True)


def test_sam_tiny_trains_through_its_parts():
    """``Sam.forward`` runs without gradients (as segment-anything's); training calls the parts.
    With points, a box and a mask prompt, every parameter receives a gradient except the "no mask"
    embedding (a mask is given); the "not a point" embedding gets a zero one (no padding point
    when a box follows the points)."""
    model = sam.sam_tiny().train()
    images = torch.rand(2, 3, 128, 128) * 255
    embeddings = model.image_encoder(model.preprocess(images))
    points = (torch.rand(3, 2, 2) * 128, torch.tensor([[1, 0], [1, 1], [0, 1]]))
    boxes = torch.tensor([[10.0, 10.0, 90.0, 70.0]] * 3)
    sparse, dense = model.prompt_encoder(
        points=points, boxes=boxes, masks=torch.randn(3, 1, 64, 64)
    )
    low_res, iou = model.mask_decoder(
        image_embeddings=embeddings[:1],
        image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=True,
    )
    (low_res.sigmoid().mean() + iou.square().mean()).backward()
    missing = {name for name, p in model.named_parameters() if p.grad is None}
    assert missing == {"prompt_encoder.no_mask_embed.weight"}
    assert not model.prompt_encoder.not_a_point_embed.weight.grad.any()
