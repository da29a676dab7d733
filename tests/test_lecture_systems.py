"""The systems that the lectures name, each where the course teaches it.

For each system: registered in ``get_model``; proven by its own test module (against the
reference library where one installs here: torchvision, transformers, omnipose; against the paper
on hand-derived cases where none does: SOLOv2, DenoiSeg); in the zoo (shipped, or waiting for
its three seeds in ``segedu.zoo.TO_TRAIN``); drawn in its chapter (``CHAPTER_DIAGRAMS``); and run
by that chapter: a code cell builds it with ``get_model`` and runs it (``draw_architecture``
records the diagram from a forward pass; the zoo's trained predictions join once the entries
leave ``TO_TRAIN``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segedu.models import list_models
from segedu.zoo import TO_TRAIN, ZOO
from tests.test_viz_diagram import CHAPTER_DIAGRAMS

ROOT = Path(__file__).resolve().parents[1]

# system: (its chapter, its zoo entries, the test module that proves it, what that module checks
# it against)
SYSTEMS = {
    "retinanet_resnet50_fpn": ("10_object_detection.md", ["retinanet_resnet50_fpn"],
                               "tests/models/top_down/test_retinanet_torchvision.py",
                               "torchvision"),
    "ssd300_vgg16": ("10_object_detection.md", ["ssd300_vgg16"],
                     "tests/models/top_down/test_ssd_torchvision.py", "torchvision"),
    "solov2": ("11_instance_segmentation.md", ["solov2"], "tests/models/top_down/test_solov2.py",
               "matrix_nms"),
    "omnipose": ("12_bottom_up_instances.md", ["omnipose", "cellpose_rods"],
                 "tests/models/bottom_up/omnipose/test_reference.py", "omnipose"),
    "denoiseg": ("13_microscopy_medical.md", ["denoiseg", "denoiseg_labels_only"],
                 "tests/models/bottom_up/denoiseg/test_denoiseg.py", "n2v"),
    "swin_t": ("14_backbones.md", ["unet_swin_t"], "tests/models/classification/test_swin.py",
               "torchvision"),
    "convnext_tiny": ("14_backbones.md", ["unet_convnext_tiny"],
                      "tests/models/classification/test_convnext.py", "torchvision"),
    "oneformer": ("15_panoptic.md", ["oneformer"],
                  "tests/models/universal/oneformer/test_network.py",
                  "transformers"),
}


def _code_cells(chapter: str) -> list[str]:
    text = (ROOT / "course" / chapter).read_text(encoding="utf8")
    return re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S)


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_a_lecture_system_is_built_proven_in_the_zoo_drawn_and_run(system):
    chapter, entries, proof, reference = SYSTEMS[system]
    assert system in list_models(), f"{system} is not registered in get_model"
    proof_text = (ROOT / proof).read_text(encoding="utf8")
    assert reference in proof_text.lower(), f"{proof} does not check {system} against {reference}"
    for entry in entries:
        assert entry in ZOO, f"{system}: no zoo entry {entry!r}"
        assert ZOO[entry].checkpoint.is_file() or entry in TO_TRAIN, (
            f"{entry} has no checkpoint and is not waiting for its training (TO_TRAIN)")
    assert system in CHAPTER_DIAGRAMS[chapter], f"{chapter} does not draw {system}"
    built = re.compile(rf"get_model\(\s*[\"']{system}[\"']")
    running = [cell for cell in _code_cells(chapter) if built.search(cell)]
    assert running, f"no code cell of {chapter} builds and runs {system}"
