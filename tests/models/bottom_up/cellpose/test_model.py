"""The Cellpose network, its targets, its loss (against ``cellpose.train._loss_fn_seg``) and
``predict_instances``."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import torch

from segedu.data.synthetic_cells import SyntheticCells
from segedu.metrics import matching
from segedu.models.bottom_up.cellpose import Cellpose, cellpose, cellpose_loss, masks_to_flows
from segedu.models.registry import get_model

# targets, loss and postprocess are instance methods (the bottom-up family's contract); they do
# not depend on the network's size or weights
SMALL = Cellpose(depth=1, width=4)


def reference_loss_fn():
    """cellpose 4.2.1.1's ``train._loss_fn_seg``, compiled from the installed source file.

    Importing ``cellpose.train`` pulls in cellpose's I/O and model zoo (~10 s more than
    ``cellpose.dynamics``), so the test reads that one function from the installed file and runs
    it as it is written there, with ``nn`` = ``torch.nn``.
    """
    spec = importlib.util.find_spec("cellpose")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("cellpose is not installed")
    source = Path(spec.submodule_search_locations[0], "train.py").read_text()
    tree = ast.parse(source)
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_loss_fn_seg"]
    namespace = {"nn": torch.nn, "torch": torch}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "cellpose/train.py", "exec"), namespace)
    return namespace["_loss_fn_seg"]

DATA = SyntheticCells(size=128, length=10, seed=0)


def test_parameter_count_and_registry():
    """504,707 = the builder's docstring (residual U-Net, depth 3, width 16, 3 output maps)."""
    model = cellpose()
    assert sum(p.numel() for p in model.parameters()) == 504_707
    assert "504,707" in cellpose.__doc__
    assert isinstance(get_model("cellpose"), Cellpose)
    assert sum(p.numel() for p in get_model("cellpose").parameters()) == 504_707


def test_forward_shapes_and_bad_sizes():
    model = cellpose(in_channels=2).eval()
    out = model(torch.rand(2, 2, 64, 48))
    assert set(out) == {"flows", "cellprob"}
    assert out["flows"].shape == (2, 2, 64, 48) and out["cellprob"].shape == (2, 1, 64, 48)
    with pytest.raises(ValueError, match="multiple of"):
        model(torch.rand(1, 2, 60, 64))
    with pytest.raises(ValueError, match="images must be"):
        model(torch.rand(1, 1, 64, 64))


def test_targets():
    labels = DATA[0][1]["instances"]
    targets = SMALL.targets(labels)
    assert targets["flows"].shape == (2, 128, 128) and targets["flows"].dtype == torch.float32
    assert targets["cellprob"].shape == (1, 128, 128) and targets["cellprob"].dtype == torch.float32
    torch.testing.assert_close(targets["flows"], 5 * masks_to_flows(labels))
    assert torch.equal(targets["cellprob"][0], (labels > 0).float())
    # collate-able: the per-image dims come first
    batch = torch.utils.data.default_collate([targets, SMALL.targets(DATA[1][1]["instances"])])
    assert batch["flows"].shape == (2, 2, 128, 128)
    with pytest.raises(TypeError, match="integer"):
        SMALL.targets(labels.float())


def test_loss_equals_cellpose_training_loss():
    """cellpose's ``_loss_fn_seg(lbl, y)``: lbl = (cell mask, unit dy, unit dx), y =
    (dy, dx, logit); ``MSE(y_flow, 5 * lbl_flow) / 2 + BCE(y_prob, lbl_mask > 0.5)``."""
    g = torch.Generator().manual_seed(0)
    labels = [DATA[i][1]["instances"][:64, :64] for i in range(2)]
    targets = torch.utils.data.default_collate([SMALL.targets(lab) for lab in labels])
    outputs = {
        "flows": 3 * torch.randn(2, 2, 64, 64, generator=g),
        "cellprob": torch.randn(2, 1, 64, 64, generator=g),
    }
    lbl = torch.cat([targets["cellprob"], targets["flows"] / 5], dim=1)  # (N, 3, H, W)
    y = torch.cat([outputs["flows"], outputs["cellprob"]], dim=1)
    expected = reference_loss_fn()(lbl, y, torch.device("cpu"))
    torch.testing.assert_close(cellpose_loss(outputs, targets), expected)
    torch.testing.assert_close(SMALL.loss(outputs, targets), expected)
    with pytest.raises(ValueError, match="do not match"):
        cellpose_loss({"flows": outputs["flows"][:, :1], "cellprob": outputs["cellprob"]}, targets)


def test_loss_goes_down():
    torch.manual_seed(0)
    model = cellpose(depth=2, width=8)
    items = [DATA[i] for i in range(4)]
    images = torch.stack([img[:, :64, :64] for img, _ in items])
    targets = torch.utils.data.default_collate([SMALL.targets(t["instances"][:64, :64])
                                                for _, t in items])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = model.loss(model(images), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_postprocess_of_true_targets_gives_back_the_labels():
    """Perfect network outputs (5x true flows, confident logits) -> the labels
    (accuracy >= 0.95)."""
    labels = [DATA[i][1]["instances"] for i in (3, 4)]
    targets = torch.utils.data.default_collate([SMALL.targets(lab) for lab in labels])
    outputs = {"flows": targets["flows"], "cellprob": 8 * targets["cellprob"] - 4}
    predicted = SMALL.postprocess(outputs)
    for lab, pred in zip(labels, predicted, strict=True):
        assert pred.dtype == torch.int64 and pred.shape == lab.shape
        assert matching(lab, pred, thresh=0.5)["accuracy"] >= 0.95


def test_predict_instances_api():
    model = cellpose(depth=2, width=8)
    model.train()
    images = torch.stack([DATA[i][0][:, :64, :64] for i in range(2)])
    with torch.no_grad():  # bias the probability up so that the untrained net finds foreground
        model.unet.head.bias[2] = 5.0
    predicted = model.predict_instances(images)
    assert model.training  # mode restored
    assert len(predicted) == 2
    for pred in predicted:
        assert pred.shape == (64, 64) and pred.dtype == torch.int64 and pred.min() >= 0
        ids = pred.unique()
        assert ids.tolist() == list(range(len(ids)))  # 0 and 1..K
