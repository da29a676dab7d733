"""Model families share parts through `segedu.nn`, never by importing another family's internals.

A *family* is a package (or module) one level under a contract package of `segedu.models`
(`models/universal/mask2former`, `models/semantic/unet`). A family may build on a *whole model* of
another family (composition: StarDist on the U-Net, Panoptic FPN on Mask R-CNN, EoMT on DINOv2 with
Mask2Former's query training, OneFormer on Mask2Former, SAM 2 on SAM); those uses are listed
below, each with its reason.
Every other import of one family by another is a shared part that belongs in `segedu.nn` (or, for
the set-prediction losses of DETR, Mask2Former and EoMT, in `models/universal/set_prediction`;
for the network of Cellpose and Omnipose, in `models/bottom_up/flow_network`).
Read from the source with `ast`, so the test sees exactly what the modules import.
"""

from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "segedu" / "models"
CONTRACTS = ("semantic", "top_down", "bottom_up", "universal", "foundation",
             "classification")
# packages of a contract that are no family: its contract and the parts its families share
# (flow_network: the U-Net of Cellpose and Omnipose, with its named output maps)
SHARED_IN_CONTRACT = {"base", "set_prediction", "heads", "temperature", "tta", "flow_network"}

# family -> {family it builds on: why}; a whole model of the other family, used as it is
COMPOSITION = {
    "bottom_up/denoiseg": {"semantic/unet": "DenoiSeg's network is a U-Net"},
    "bottom_up/spatial_embedding": {"semantic/unet": "the branched ERFNet is replaced by a U-Net"},
    "bottom_up/stardist": {"semantic/unet": "StarDist's network is a U-Net"},
    "bottom_up/unet_weight_map": {"semantic/unet": "the U-Net trained with its weight map"},
    "universal/panoptic_fpn": {"top_down/detection": "Panoptic FPN is Mask R-CNN + a branch"},
    "universal/eomt": {"foundation/dinov2": "EoMT's encoder is DINOv2's ViT",
                       "universal/mask2former": "EoMT is trained and decoded as Mask2Former"},
    "universal/oneformer": {"universal/mask2former": "OneFormer is Mask2Former's pixel decoder, "
                                                     "masked attention, set criterion and "
                                                     "read-outs, with task-conditioned queries"},
    "foundation/sam2": {"foundation/sam": "SAM 2 keeps SAM's prompt encoder and decoder"},
    "semantic/pspnet": {"semantic/fcn_resnet": "torchvision's dilated-ResNet segmenter, "
                                               "with the pyramid pooling head"},
    "semantic/unet3d": {"semantic/unet": "the U-Net, built with 3-D layers"},
}


def _family_of(module: str) -> str | None:
    """``segedu.models.universal.detr.model`` -> ``universal/detr`` (None outside a family)."""
    parts = module.split(".")
    if parts[:2] != ["segedu", "models"] or len(parts) < 4 or parts[2] not in CONTRACTS:
        return None
    if parts[3] in SHARED_IN_CONTRACT:
        return None
    return f"{parts[2]}/{parts[3]}"


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of the modules that ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(MODELS.parents[1]).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def family_imports() -> dict[tuple[str, str], list[str]]:
    """(family, other family) -> the files of the first that import the second."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(MODELS.rglob("*.py")):
        module = ".".join(path.relative_to(MODELS.parents[1]).with_suffix("").parts)
        family = _family_of(module)
        if family is None:
            continue
        for imported in _imported_modules(path):
            other = _family_of(imported)
            if other is not None and other != family:
                found.setdefault((family, other), []).append(str(path.relative_to(MODELS)))
    return found


def test_no_family_imports_another_familys_parts():
    unexplained = {pair: files for pair, files in family_imports().items()
                   if pair[1] not in COMPOSITION.get(pair[0], {})}
    assert not unexplained, (
        "these families import parts of others; move the shared part to segedu.nn, or list a "
        f"composition with its reason: {unexplained}")


def test_no_two_families_import_each_other():
    pairs = set(family_imports())
    both_ways = sorted(pair for pair in pairs if pair[::-1] in pairs)
    assert not both_ways, both_ways


def test_every_listed_composition_is_still_used():
    used = set(family_imports())
    stale = [(a, b) for a, others in COMPOSITION.items() for b in others if (a, b) not in used]
    assert not stale, f"compositions listed but no longer imported: {stale}"


def test_the_reader_sees_a_shared_part_imported_across_families(tmp_path):
    """The checker itself: a relative import two levels up, into another family, is found."""
    path = MODELS / "foundation" / "sam2" / "neck.py"
    assert "segedu.nn.position_encoding" in _imported_modules(path)
    assert _family_of("segedu.models.universal.mask2former.position_encoding") == \
        "universal/mask2former"
    assert _family_of("segedu.nn.position_encoding") is None
