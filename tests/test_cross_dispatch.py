"""segedu's cross-machine promises hold under the other CPU dispatch, proven on this machine.

numpy, OpenBLAS, PyTorch and oneDNN pick SIMD kernels by CPU when they start: an AVX-512 machine
and an AVX2-only one (the machines that run these tests are of either kind) round differently in
the last bit. The variables of ``AVX2_DISPATCH`` make an AVX-512 machine compute what an AVX2-only
CPU computes (on an AVX2-only machine they change nothing). This test reruns, in a subprocess under
them:

- the synthetic generators, item by item, compared with this process's items: labels, masks,
  boxes and layouts identical, float images within ``IMAGE_ATOL`` pixel by pixel;
- the pins of ``tests/data/test_synthetic_digest.py`` and the zoo's recorded scores: the
  ``..._scores_what_its_card_says`` tests of ``tests/test_zoo.py`` for every shipped model, and
  those of the two entries tested in files of their own, CLIPSeg and SAM 2 (each on the first
  tenth of its held-out split against its check scores, ``segedu.zoo.check_scores``),
  so that every family's evaluation path (argmax, score thresholds, NMS, polygons, matching,
  k-means and a logistic-regression probe) runs under the AVX2 dispatch once per CI run.

What it caught: the generators' tests used to pin a sha256 of the raw image bytes. Under these
variables, on an AVX-512 machine, 0.2-10 % of the pixels of ``SyntheticCells`` and
``SyntheticScenes`` images differ by one to three ULP (at most 3.6e-7), every label identical,
and those digests failed, as they did on a 2-core AVX2-only AMD EPYC. The last assertion of
``test_the_other_dispatch_really_computes_other_floats`` keeps that evidence: on an AVX-512
machine the images under the two dispatches must differ in their last bits, or the variables no
longer reach the kernels and this file proves nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_synthetic_digest import CASES, IMAGE_ATOL, LAYOUT_RTOL

ROOT = Path(__file__).resolve().parents[1]

# What an AVX2-only x86-64 CPU runs: numpy's dispatch without its AVX-512 targets, ATen's AVX2
# kernels, OpenBLAS's Haswell kernels, oneDNN and MKL capped at AVX2.
AVX2_DISPATCH = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "ATEN_CPU_CAPABILITY": "avx2",
    "OPENBLAS_CORETYPE": "Haswell",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
# The zoo entries whose score tests live in files of their own (one test each)
OWN_FILES = ("tests/zoo/test_clipseg_zoo.py", "tests/zoo/test_sam2_zoo.py")


def generator_items() -> dict[str, np.ndarray]:
    """Every item of every generator case: image, integer targets and layout, by key."""
    import torch

    from tests.data.test_synthetic_digest import label_arrays, layout_values

    arrays = {}
    for case, (make, indices) in CASES.items():
        dataset = make()
        for i in indices:
            image, target = dataset[i]
            arrays[f"{case}/{i}/image"] = image.as_subclass(torch.Tensor).numpy()
            for key, value in label_arrays(target).items():
                arrays[f"{case}/{i}/{key}"] = value
            arrays[f"{case}/{i}/layout"] = np.array(layout_values(dataset, i))
    return arrays


# Under the other dispatch: the kernels it picked (printed), and the items in an .npz.
DUMP = """
import sys
import numpy as np
import torch
from numpy._core._multiarray_umath import __cpu_features__ as features
from tests.test_cross_dispatch import generator_items
print(torch.backends.cpu.get_cpu_capability(), features["X86_V4"], features["AVX512_ICL"])
np.savez(sys.argv[1], **generator_items())
"""


def _run_avx2(args: list[str]) -> subprocess.CompletedProcess:
    """``python args`` under the AVX2 dispatch. A pytest there loads only its own plugins: those
    installed beside segedu (xdist's, hydra's, anyio's) cost about 2 CPU s and none takes part."""
    env = {**os.environ, **AVX2_DISPATCH, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def _has_avx512() -> bool:
    try:
        return " avx512f " in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """Every generator item under this process's dispatch and under the AVX2 dispatch (in a
    subprocess), and what that subprocess printed of the kernels it picked."""
    path = tmp_path_factory.mktemp("dispatch") / "avx2.npz"
    done = _run_avx2(["-c", DUMP, str(path)])
    assert done.returncode == 0, done.stderr[-3000:]
    return {"native": generator_items(), "avx2": dict(np.load(path)), "picked": done.stdout}


def test_the_other_dispatch_really_computes_other_floats(items):
    assert items["picked"].split() == ["AVX2", "False", "False"], items["picked"]
    native, avx2 = items["native"], items["avx2"]
    assert native.keys() == avx2.keys()
    if _has_avx512():
        differ = [k for k in native if k.endswith("/image") and not np.array_equal(native[k],
                                                                                     avx2[k])]
        assert differ, ("on this AVX-512 machine the AVX2 dispatch gave bit-identical images: the "
                        "variables no longer reach numpy's or PyTorch's kernels")


@pytest.mark.parametrize("case", sorted(CASES))
def test_generators_give_the_same_labels_and_close_images_under_both_dispatches(items, case):
    native, avx2 = items["native"], items["avx2"]
    keys = [k for k in native if k.startswith(f"{case}/")]
    assert keys
    for key in keys:
        if key.endswith("/image"):
            np.testing.assert_allclose(avx2[key], native[key], rtol=0, atol=IMAGE_ATOL,
                                       err_msg=key)
        elif key.endswith("/layout"):
            np.testing.assert_allclose(avx2[key], native[key], rtol=LAYOUT_RTOL, atol=0,
                                       err_msg=key)
        else:
            assert avx2[key].dtype == native[key].dtype and np.array_equal(avx2[key],
                                                                           native[key]), key


@pytest.mark.slow
def test_pins_and_zoo_scores_pass_under_the_avx2_dispatch():
    from tests import test_zoo

    rescored = [*test_zoo.SEMANTIC, *test_zoo.INSTANCES, *test_zoo.DETECTION, *test_zoo.CELLS,
                *test_zoo.PANOPTIC, *test_zoo.PROMPTABLE, *test_zoo.FEATURES]

    # every zoo model against its check scores (the first tenth of its held-out split,
    # segedu.zoo.check_scores): about half a minute of CPU for all of them
    done = _run_avx2(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                      "tests/data/test_synthetic_digest.py", "tests/test_zoo.py",
                      *OWN_FILES, "-k", "items_match or pins_see or scores_what_its_card_says"])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    # the digest file's tests (one per case and the pins' own) and one per model
    passed = len(rescored) + len(OWN_FILES) + len(CASES) + 1
    assert re.search(rf"\b{passed} passed\b", done.stdout), (
        done.stdout[-2000:])
