"""The chapters' official-weights cells (07 FCN, 09 DeepLabv3, 11 Mask R-CNN), run without internet.

Each cell marked ``# official weights, online only`` is executed as the book would run it, in
fast mode: online with random weights saved under the official file name in a temporary cache
(the real code path, nothing downloaded), offline (one line, nothing loaded), and online with the
network cut (one line naming the URL: segedu.data.download.DownloadError).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from myst_nb.core.read import read_myst_markdown_notebook

from segedu.data.download import DownloadError
from segedu.grading.labs.notebook import read_notebook
from segedu.models import get_model
from segedu.models.registry import official_file, official_url
from tests.online_cells import one_line, online_cell

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {
    "07_fcn.md": "fcn_resnet50",
    "09_context.md": "deeplabv3_resnet50",
    "11_instance_segmentation.md": "maskrcnn_resnet50_fpn",
}


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_runs_on_cached_random_weights(chapter, name, chapter_env, monkeypatch,
                                                     capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    torch.manual_seed(0)
    path = official_file(name)
    assert path.name == Path(official_url(name)).name  # the name in the publisher's URL
    path.parent.mkdir(parents=True)
    torch.save(get_model(name).state_dict(), path)
    namespace: dict = {}
    exec(compile(online_cell(chapter), chapter, "exec"), namespace)
    out = capsys.readouterr().out
    assert "Data: scikit-image photographs" in out and "official" in out
    assert chapter_env == []  # nothing tried to connect
    model = namespace["official"]
    saved = torch.load(path, weights_only=True)
    for key, value in model.state_dict().items():  # the cached file is what was loaded
        if "running" not in key and value.is_floating_point():
            assert torch.equal(value, saved[key]), key


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_offline_says_so_in_one_line(chapter, name, chapter_env, monkeypatch,
                                                   capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    namespace: dict = {}
    exec(compile(online_cell(chapter), chapter, "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("Offline (segedu.config.online() is false)") and out.count("\n") == 1
    assert "official" not in namespace and not official_file(name).exists()


@pytest.mark.parametrize("chapter, name", CHAPTERS.items())
def test_official_cell_without_network_fails_in_one_line(chapter, name, chapter_env,
                                                         monkeypatch):
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    with pytest.raises(DownloadError) as error:
        exec(compile(online_cell(chapter), chapter, "exec"), {})
    message = one_line(error.value)
    assert official_url(name) in message and name in message
    assert chapter_env  # it did try, and failed at once


LOADS_OR_TRAINS = re.compile(r'weights="(?:zoo|official)"|(?<![.\w])fit\(')
NOTEBOOKS = sorted((ROOT / "course").glob("[0-9]*.md"))
NOTEBOOKS += sorted((ROOT / "solutions").glob("*.ipynb"))


def _code(path: Path) -> str:
    if path.suffix == ".md":
        cells = read_myst_markdown_notebook(path.read_text(encoding="utf8")).cells
    else:
        cells = read_notebook(path).cells
    return "\n".join(c.source for c in cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_that_load_weights_or_train_say_which(path):
    code = _code(path)
    if LOADS_OR_TRAINS.search(code):
        assert "announce(" in code, (f"{path.name} trains or loads weights: print which data and "
                                     "weights with segedu.config.announce(data=..., weights=...)")


def test_the_weights_check_can_fail():
    assert LOADS_OR_TRAINS.search('m = get_model("unet", weights="zoo")')
    assert LOADS_OR_TRAINS.search("history = fit(model, loader)")
    assert not LOADS_OR_TRAINS.search("KMeans(3).fit(x)")


RUN_UNTIL_OFFICIAL_CELL = '''
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.core.inputtransformer2 import TransformerManager
from myst_nb.core.read import read_myst_markdown_notebook

plt.show = lambda *args, **kwargs: None
cells = read_myst_markdown_notebook(open(sys.argv[1], encoding="utf8").read()).cells
namespace = {}
for cell in cells:
    if cell.cell_type != "code":
        continue
    lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith("%")]
    source = TransformerManager().transform_cell("\\n".join(lines))
    exec(compile(source, sys.argv[1], "exec"), namespace)
    if "official_file(" in source:  # the official-weights cell: stop after it
        break
'''


def test_chapter_03_runs_dino_on_cached_random_weights(tmp_path):
    """Chapter 03 up to its DINO cell, online, with timm's ViT-S/16 DINO (random weights) saved
    under the official file name: the cell loads it and draws its figure, nothing downloaded."""
    import timm

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    name = Path(official_url("dino_vits16")).name
    torch.manual_seed(0)
    reference = timm.create_model("vit_small_patch16_224.dino", pretrained=False)
    torch.save(reference.state_dict(), checkpoints / name)
    env = {**os.environ, "SEGEDU_FAST": "1", "SEGEDU_ONLINE": "1", "SEGEDU_CACHE": str(tmp_path),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "no_proxy": "", "http_proxy": "http://192.0.2.1:9", "https_proxy": "http://192.0.2.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", RUN_UNTIL_OFFICIAL_CELL,
         str(ROOT / "course" / "03_classical_segmentation.md")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "weights: official DINO ViT-S/16" in done.stdout
    assert "This figure was made with the official DINO ViT-S/16 checkpoint." in done.stdout
