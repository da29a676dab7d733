"""segedu.viz.draw_architecture: every drawn shape is the real module's output shape, a changed
configuration changes the diagram, and every architecture a chapter teaches has its diagram."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from segedu.models import get_model  # noqa: E402
from segedu.models.foundation.dinov2 import LinearProbe  # noqa: E402
from segedu.models.universal.detr import DETR  # noqa: E402
from segedu.viz import architecture, draw_architecture, record_architecture  # noqa: E402
from segedu.viz.diagram import format_shape  # noqa: E402
from segedu.viz.diagram_structure import Block, Edge, Structure  # noqa: E402

COURSE = Path(__file__).resolve().parents[1] / "course"


def _image(side: int, channels: int = 3) -> torch.Tensor:
    return torch.rand(1, channels, side, side, generator=torch.Generator().manual_seed(0))


def _sam_click():
    model = get_model("sam_tiny")
    side = model.image_encoder.img_size
    click = {"image": torch.rand(3, side, side) * 255, "original_size": (side, side),
             "point_coords": torch.tensor([[[side / 3, side / 2]]]),
             "point_labels": torch.tensor([[1]])}
    return model, ([click], True)


def _detr(**kwargs) -> DETR:
    """A slim DETR (not registered: it has no family contract of its own yet)."""
    size = dict(num_classes=5, backbone="resnet18", backbone_width=8, hidden_dim=32, num_heads=4,
                encoder_layers=2, decoder_layers=3, ffn_dim=64, num_queries=7)
    return DETR(**{**size, **kwargs})


SLIM_SWIN = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4)
SLIM_CONVNEXT = dict(dims=(8, 16, 32, 64), depths=(1, 1, 2, 1))

# small configurations of each chapter's models, and an input for each
CASES = {
    "fcn8s": lambda: (get_model("fcn8s", num_classes=5, width=8, fc_channels=32), _image(32)),
    "fcn32s": lambda: (get_model("fcn32s", num_classes=5, width=8, fc_channels=32), _image(32)),
    "fcn_resnet": lambda: (get_model("fcn_resnet", num_classes=4, backbone="resnet18",
                                     backbone_width=8), _image(32)),
    "segnet": lambda: (get_model("segnet", num_classes=4, width=4), _image(32)),
    "unet": lambda: (get_model("unet", num_classes=3, width=4, depth=3), _image(32)),
    "unet_original": lambda: (get_model("unet_original", width=2, depth=2), _image(44, 1)),
    "resunet": lambda: (get_model("resunet", num_classes=3, width=4, depth=2), _image(32)),
    "pspnet": lambda: (get_model("pspnet", num_classes=4, backbone="resnet18", backbone_width=8,
                                 head_channels=16), _image(48)),
    "deeplabv3plus": lambda: (get_model("deeplabv3plus", num_classes=4, backbone="resnet18",
                                         backbone_width=8, decoder_channels=16), _image(64)),
    "segformer_tiny": lambda: (get_model("segformer_tiny", num_classes=4), _image(64)),
    "yolo_grid": lambda: (get_model("yolo_grid", grid_size=2, num_classes=3), _image(64)),
    "maskrcnn_resnet_fpn": lambda: (get_model("maskrcnn_resnet_fpn", min_size=64, max_size=64,
                                              rpn_post_nms_top_n_test=20),
                                    [torch.rand(3, 64, 64)]),
    "yolact": lambda: (get_model("yolact"), [torch.rand(3, 64, 64)]),
    "solov2": lambda: (get_model("solov2", inference={"score_thresh": 0.0, "update_thresh": 0.0}),
                       [torch.rand(3, 64, 64)]),
    "retinanet_resnet50_fpn": lambda: (get_model("retinanet_resnet50_fpn", num_classes=3,
                                                 min_size=64, max_size=64, score_thresh=0.0),
                                       [torch.rand(3, 64, 64)]),
    "ssd300_vgg16": lambda: (get_model("ssd300_vgg16", num_classes=3), [torch.rand(3, 48, 64)]),
    "panoptic_fpn": lambda: (get_model("panoptic_fpn"), [torch.rand(3, 64, 64)]),
    "stardist": lambda: (get_model("stardist"), _image(32, 1)),
    "cellpose": lambda: (get_model("cellpose"), _image(32, 1)),
    "omnipose": lambda: (get_model("omnipose"), _image(32, 1)),
    "denoiseg": lambda: (get_model("denoiseg"), _image(32, 1)),
    "spatial_embedding": lambda: (get_model("spatial_embedding"), _image(32, 1)),
    "mask2former": lambda: (get_model("mask2former"), _image(64)),
    "oneformer": lambda: (get_model("oneformer", text_mapper=None), _image(64)),
    "detr": lambda: (_detr(), _image(64)),
    "eomt": lambda: (get_model("eomt", image_size=32, dim=24, depth=3, num_heads=2,
                               num_register_tokens=2, num_queries=4), _image(32)),
    "dino_vit_tiny": lambda: (get_model("dino_vit_tiny"), _image(32)),
    "dinov2_vits14_reg": lambda: (get_model("dinov2_vits14_reg", embed_dim=32, depth=2,
                                            num_heads=2, img_size=56), _image(42)),
    "dinov2_linear_probe": lambda: (LinearProbe(backbone=get_model(
        "dinov2_vits14", embed_dim=32, depth=2, num_heads=2, img_size=56), num_classes=4,
        layers=2), _image(40)),
    "sam_tiny": _sam_click,
    "clipseg_tiny": lambda: (get_model("clipseg_tiny"), (_image(64), torch.tensor([[1, 3, 15]]))),
    "swin_t": lambda: (get_model("swin_t", **SLIM_SWIN, num_classes=5), _image(64)),
    "convnext_tiny": lambda: (get_model("convnext_tiny", **SLIM_CONVNEXT, num_classes=5),
                              _image(64)),
    "unet_swin_t": lambda: (get_model("unet_swin_t", num_classes=3, backbone_config=SLIM_SWIN,
                                      decoder_channels=(32, 16, 16, 8)), _image(64)),
    "unet_convnext_tiny": lambda: (get_model("unet_convnext_tiny", num_classes=3,
                                             backbone_config=SLIM_CONVNEXT,
                                             decoder_channels=(32, 16, 16, 8)), _image(64)),
    "sam2_slim": lambda: (get_model("sam2_slim", image_size=64), (
        torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)),
        torch.tensor([[[20.0, 30.0]]]), torch.ones(1, 1, dtype=torch.int64))),
}


def _independent_shapes(model: nn.Module, example, structure: Structure) -> dict:
    """Each block's shape by hooks of our own: the first output (or input) of its module,
    picked by its keys; the batch dimension dropped as the block says."""
    outputs, inputs = {}, {}
    handles = []
    for block in structure.blocks:
        if block.module is None or block.module in outputs:
            continue
        module = model.get_submodule(block.module)
        outputs[block.module] = []
        inputs[block.module] = []
        handles.append(module.register_forward_hook(
            lambda m, a, out, key=block.module: outputs[key].append(out)))
        handles.append(module.register_forward_pre_hook(
            lambda m, a, kw, key=block.module: inputs[key].append((a, kw)), with_kwargs=True))
    model.eval()
    with torch.no_grad():
        model(*(example if isinstance(example, tuple) else (example,)))
    for handle in handles:
        handle.remove()
    shapes = {}
    for block in structure.blocks:
        if block.parameter is not None:
            shape = tuple(dict(model.named_parameters())[block.parameter].shape)
        elif block.read == "input":
            args, kwargs = inputs[block.module][0]
            value = args[block.pick[0]] if isinstance(block.pick[0], int) else kwargs[block.pick[0]]
            for key in block.pick[1:]:
                value = value[key]
            shape = tuple(value.shape)
        else:
            value = outputs[block.module][0]
            for key in block.pick:
                value = value[key]
            shape = tuple(value.shape)
        shapes[block.name] = shape[1:] if block.batched and block.parameter is None else shape
    return shapes


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_block_shape_is_the_module_output_shape(name):
    """Shapes as our own hooks see them; and the blocks' parameter counts add up to the model's,
    each weight in exactly one block (YOLACT's semantic head, which runs in training only, is
    not drawn, nor OneFormer's contrastive temperature)."""
    torch.manual_seed(0)
    model, example = CASES[name]()
    diagram = record_architecture(model, example)
    assert diagram.error is None
    expected = _independent_shapes(model, example, diagram.structure)
    recorded = {n: r.shape for n, r in diagram.blocks.items()}
    assert recorded == expected
    assert all(shape is not None for shape in recorded.values())
    everything = sum(p.numel() for p in model.parameters())
    if name == "yolact":
        everything -= sum(p.numel() for p in model.semantic.parameters())
    if name == "oneformer":  # the contrastive loss's learned temperature acts in training only
        everything -= sum(p.numel() for p in model.contrastive.parameters())
    assert sum(record.params for record in diagram.blocks.values()) == everything


def test_unet_blocks_against_calling_the_submodules():
    """The U-Net's blocks against a forward pass written out by hand."""
    model = get_model("unet", num_classes=3, width=4, depth=3).eval()
    x = _image(32)
    with torch.no_grad():
        h = model.inc(x)
        expected = {"image": x.shape[1:], "inc": h.shape[1:]}
        skips = [h]
        for i, down in enumerate(model.downs):
            h = down(h)
            skips.append(h)
            expected[f"down{i + 1}"] = h.shape[1:]
        skips.pop()
        for k, up in enumerate(model.ups):
            h = up(h, skips.pop())
            expected[f"up{3 - k}"] = h.shape[1:]
        expected["head"] = model.head(h).shape[1:]
    diagram = record_architecture(model, x)
    assert {n: r.shape for n, r in diagram.blocks.items()} == {
        n: tuple(s) for n, s in expected.items()}
    assert diagram.blocks["down3"].params == sum(p.numel() for p in model.downs[2].parameters())
    assert diagram.blocks["image"].params == 0


def test_the_figure_shows_the_recorded_shapes():
    model, example = CASES["pspnet"]()
    diagram = record_architecture(model, example)
    fig = draw_architecture(model, example, title="PSPNet")
    texts = {t.get_text() for t in fig.axes[0].texts}
    plt.close(fig)
    for record in diagram.blocks.values():
        assert format_shape(record.shape) in texts
    assert any("32×32 input" in t or "3×48×48 input" in t for t in texts)


@pytest.mark.parametrize("name, small, large", [
    ("unet", dict(width=4, depth=2), dict(width=4, depth=3)),
    ("unet", dict(width=4, depth=2), dict(width=8, depth=2)),
    ("fcn8s", dict(width=8, fc_channels=32), dict(width=8, fc_channels=64)),
    ("pspnet", dict(backbone="resnet18", backbone_width=8, head_channels=16, bins=(1, 2)),
     dict(backbone="resnet18", backbone_width=8, head_channels=16, bins=(1, 2, 3))),
])
def test_a_changed_configuration_changes_the_diagram(name, small, large):
    x = _image(32 if name != "pspnet" else 48)
    a = record_architecture(get_model(name, **small), x)
    b = record_architecture(get_model(name, **large), x)
    shapes_a = {n: r.shape for n, r in a.blocks.items()}
    shapes_b = {n: r.shape for n, r in b.blocks.items()}
    assert shapes_a != shapes_b


def test_the_backbone_diagrams_show_a_pyramid_and_a_u():
    """Swin and ConvNeXt: four stages halving the resolution and doubling the channels, channels
    first; Swin's patch embedding before them. The U-Net's decoder blocks sit beside the stage
    whose map they concatenate, and the last one reaches the image."""
    for name, first in (("swin_t", "patch embed"), ("convnext_tiny", "stage 1")):
        model, x = CASES[name]()
        diagram = record_architecture(model, x)
        stages = [diagram.blocks[f"stage {i}"].shape for i in range(1, 5)]
        c = stages[0][0]
        assert stages == [(c * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4)], stages
        assert next(iter(diagram.blocks)) == "image" and list(diagram.blocks)[1] == first
        assert diagram.blocks["classifier"].shape == (5,)
    model, x = CASES["unet_swin_t"]()
    structure = architecture(model)
    at = {b.name: b.at for b in structure.blocks}
    concat = {(e.src, e.dst) for e in structure.edges if e.kind == "concat"}
    assert concat == {("stage 3", "up4"), ("stage 2", "up3"), ("stage 1", "up2")}
    assert all(at[src][1] == at[dst][1] for src, dst in concat)  # skips run horizontally
    assert record_architecture(model, x).blocks["up1"].shape == (8, 64, 64)


def test_detr_diagram_follows_its_configuration():
    """Depths name the transformer's blocks, the width and the queries change their shapes, and
    without an encoder the projection feeds the decoder."""
    x = _image(64)
    a = record_architecture(_detr(), x)
    b = record_architecture(_detr(hidden_dim=64, num_queries=9, decoder_layers=2), x)
    assert a.blocks["3 decoder layers"].shape == (7, 32) and a.blocks["boxes"].shape == (7, 4)
    assert b.blocks["2 decoder layers"].shape == (9, 64) and b.blocks["positions"].shape[0] == 64
    no_encoder = architecture(_detr(encoder_layers=0))
    assert not any("encoder" in block.name for block in no_encoder.blocks)
    assert ("projection", "3 decoder layers") in {(e.src, e.dst) for e in no_encoder.edges}


def test_fcn_variants_differ_in_their_fusion_blocks():
    names = {n: set(architecture(get_model(n, width=8, fc_channels=32)).blocks)
             for n in ("fcn32s", "fcn16s", "fcn8s")}
    count = {n: len(blocks) for n, blocks in names.items()}
    assert count["fcn32s"] < count["fcn16s"] < count["fcn8s"]


def test_a_wrong_structure_is_a_clear_error():
    model = get_model("unet", width=4, depth=2)
    with pytest.raises(ValueError, match="no submodule 'decoder'"):
        record_architecture(model, _image(16), structure=Structure(
            (Block("x", (0, 0), module="decoder"),)))
    with pytest.raises(ValueError, match="edges declared twice"):
        Structure((Block("x", (0, 0), module="inc"), Block("y", (1, 0), module="head")),
                  (Edge("x", "y"), Edge("x", "y")))
    with pytest.raises(ValueError, match="which is no block"):
        Structure((Block("x", (0, 0), module="inc"),), (Edge("x", "y"),))
    with pytest.raises(TypeError, match="no diagram structure for Linear"):
        architecture(nn.Linear(2, 2))


def test_a_broken_network_draws_what_ran():
    """A U-Net whose decoder block gets the wrong channels: with errors="draw" the blocks before
    the failure keep their shapes, the rest are marked as not reached."""
    model = get_model("unet", width=4, depth=2)
    model.ups[0] = get_model("unet", width=8, depth=2).ups[0]  # expects twice the channels
    with pytest.raises(RuntimeError):
        record_architecture(model, _image(16))
    diagram = record_architecture(model, _image(16), errors="draw")
    assert diagram.error is not None
    assert diagram.blocks["down2"].shape == (16, 4, 4)
    assert diagram.blocks["up2"].shape is None and diagram.blocks["head"].shape is None
    fig = draw_architecture(model, _image(16), errors="draw")
    assert any(t.get_text().startswith("the run stopped") for t in fig.axes[0].texts)
    plt.close(fig)


# every architecture each chapter teaches, as the name its diagram cell builds
CHAPTER_DIAGRAMS = {
    "07_fcn.md": ["fcn32s", "fcn16s", "fcn8s", "fcn_resnet"],
    "08_encoder_decoder.md": ["segnet", "unet_original", "resunet"],
    "09_context.md": ["pspnet_resnet50", "deeplabv3_resnet50", "deeplabv3plus"],
    "10_object_detection.md": ["yolo_grid", "fasterrcnn_resnet50_fpn", "ssd300_vgg16",
                               "retinanet_resnet50_fpn"],
    "11_instance_segmentation.md": ["maskrcnn_resnet_fpn", "yolact", "solov2"],
    "12_bottom_up_instances.md": ["stardist", "cellpose", "omnipose", "spatial_embedding"],
    "13_microscopy_medical.md": ["denoiseg"],
    "14_backbones.md": ["dino_vits16", "resnet50_encoder", "swin_t", "convnext_tiny",
                        "unet_convnext_tiny"],
    "15_panoptic.md": ["panoptic_fpn", "DETR", "mask2former", "oneformer"],
    "16_segment_anything.md": ["sam_tiny"],
    "17_dense_transformers.md": ["segformer_tiny", "dinov2_vits14_reg", "LinearProbe", "eomt"],
    "18_text_and_video.md": ["clipseg_tiny", "sam2_slim"],
}


@pytest.mark.parametrize("chapter", sorted(CHAPTER_DIAGRAMS))
def test_every_architecture_of_a_chapter_has_its_diagram_cell(chapter):
    text = (COURSE / chapter).read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S)
    diagram_cells = [c for c in cells if "draw_architecture(" in c and "svg_figure(" in c]
    drawn = " ".join(diagram_cells)
    missing = [name for name in CHAPTER_DIAGRAMS[chapter] if f'"{name}"' not in drawn
               and f"{name}(" not in drawn]
    assert not missing, f"{chapter}: no diagram cell draws {missing}"
    # each diagram cell carries its own caption, myst-nb's figure metadata (what to notice in that
    # network; tests/test_reading_path.py checks that no two say the same); chapters not yet moved
    # to it keep the older italic caption after the cell
    has_caption = re.compile(r"---\n.*?^\s+caption:", flags=re.S | re.M)
    captioned = [c for c in diagram_cells if has_caption.match(c)]
    old_style = text.count("every shape and parameter count was recorded by running the model")
    assert len(captioned) + old_style >= len(diagram_cells), f"{chapter}: an uncaptioned diagram"


