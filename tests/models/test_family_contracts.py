"""One contract per model family, proven on every registered model.

The family of a model is the package of ``segedu.models`` that its builder lives in
(``segedu.models.model_family``: ``semantic``, ``top_down``, ``bottom_up``, ``universal``,
``foundation``). The test enumerates
``segedu.models.list_models()`` and builds each model on PyTorch's meta device: shapes only, no
memory and no arithmetic, so that the published sizes (SAM ViT-H, DINO ViT-B/16, the ResNet-50
networks) cost nothing. A model whose constructor or forward reads tensor values (which the meta
device cannot give: YOLO's anchors, SegNet's unpooling indices) runs on the CPU instead, in a
slim version (``SLIM``), and must then be small (under 5 million parameters).

- every semantic model is a ``SemanticSegmenter`` whose forward returns a dict with ``"out"``,
  the logits ``(N, K, *S)`` (``"aux"`` of the same shape when it has an auxiliary head);
- every bottom-up model is a ``BottomUpModel`` whose ``targets``, ``loss`` and ``postprocess``
  are instance methods with the family's one signature;
- every top-down model is a ``TopDownModel`` whose ``targets(targets)``, ``loss(outputs,
  targets)`` and ``postprocess(outputs)`` are instance methods (other parameters keyword-only);
- every universal model is a ``UniversalModel`` whose ``targets``, ``loss`` and ``postprocess``
  are instance methods with the family's one signature, ``postprocess`` with the keyword-only
  ``task``;
- every classification model is a ``Backbone`` whose forward returns the logits ``(N, K)`` and
  whose ``forward_stages`` returns one map per stage, of ``stage_channels`` channels, at
  ``strides`` 4, 8, 16, 32.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from segedu.models import get_model, list_models, model_family
from segedu.models.bottom_up.base import BottomUpModel
from segedu.models.classification.base import Backbone
from segedu.models.semantic.base import SemanticSegmenter
from segedu.models.semantic.unet import unet_output_size
from segedu.models.top_down.base import TopDownModel
from segedu.models.universal.base import UniversalModel

FAMILIES = ("semantic", "top_down", "bottom_up", "universal", "foundation",
            "classification")
CPU_LIMIT = 5_000_000  # parameters of a model that cannot run on the meta device
SLIM = {"segnet": {"width": 8}}  # the arguments of the CPU runs


def on_meta_or_cpu(name: str, run, **kwargs):
    """``run(get_model(name, **kwargs))`` on the meta device, or on the CPU (slim) when it needs
    values; returns ``(model, run's result)``."""
    try:
        with torch.device("meta"):
            model = get_model(name, **kwargs)
            return model, run(model)
    except (RuntimeError, NotImplementedError) as error:
        if "meta" not in str(error):
            raise
    model = get_model(name, **kwargs, **SLIM.get(name, {}))
    count = sum(p.numel() for p in model.parameters())
    assert count < CPU_LIMIT, f"{name} cannot run on the meta device and has {count:,} weights"
    return model, run(model)


def build(name: str) -> torch.nn.Module:
    return on_meta_or_cpu(name, lambda model: None)[0]


MODELS = {name: model_family(name) for name in list_models()}


def test_every_model_lives_in_a_family_package():
    assert set(MODELS.values()) <= set(FAMILIES), MODELS
    assert MODELS["unet"] == "semantic" and MODELS["stardist"] == "bottom_up"
    assert MODELS["dino_vits16"] == "foundation"  # a segedu.nn ViT, built in foundation/dino
    with pytest.raises(ValueError, match="unknown model 'unet2'"):
        model_family("unet2")
    # each family the contracts below speak of has models, so that none of them is vacuous
    assert {"semantic", "bottom_up", "top_down", "universal"} <= set(MODELS.values())


# ---------------------------------------------------------------------------------------------
# Semantic: forward -> {"out": (N, K, *S)[, "aux": (N, K, *S)]}
# ---------------------------------------------------------------------------------------------

# (N, C, *S) inputs for the models that do not take the default (2, 3, 64, 64) images, and the
# spatial size of their output when it is not the input's
INPUTS = {"unet_original": (2, 1, 572, 572), "unet3d": (2, 1, 16, 32, 32)}
OUTPUT_SIZE = {"unet_original": (unet_output_size(572, 4),) * 2}  # 388: unpadded convolutions


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if f == "semantic"])
def test_semantic_forward_returns_a_dict_with_out(name):
    classes = 5
    shape = INPUTS.get(name, (2, 3, 64, 64))
    model, outputs = on_meta_or_cpu(name, lambda model: model.eval()(torch.zeros(shape)),
                                    num_classes=classes)
    assert isinstance(model, SemanticSegmenter), type(model).__mro__
    assert isinstance(outputs, dict), f"{name} returns {type(outputs).__name__}, not a dict"
    assert set(outputs) <= {"out", "aux"} and "out" in outputs, sorted(outputs)
    expected = (shape[0], classes, *OUTPUT_SIZE.get(name, shape[2:]))
    for key, value in outputs.items():
        assert tuple(value.shape) == expected, f"{name}[{key!r}]: {tuple(value.shape)}, {expected}"


# ---------------------------------------------------------------------------------------------
# Classification: forward -> (N, K); forward_stages -> four maps at strides 4 .. 32
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if f == "classification"])
def test_classifiers_give_logits_and_four_stage_maps(name):
    def run(model):
        images = torch.zeros(2, 3, 64, 64)  # on the meta device when the model is
        return model.eval()(images), model.forward_stages(images)

    model, (logits, maps) = on_meta_or_cpu(name, run, num_classes=7)
    assert isinstance(model, Backbone), type(model).__mro__
    assert tuple(logits.shape) == (2, 7)
    assert model.strides == (4, 8, 16, 32)
    assert [tuple(m.shape) for m in maps] == [(2, c, 64 // s, 64 // s) for c, s in
                                              zip(model.stage_channels, model.strides, strict=True)]


# ---------------------------------------------------------------------------------------------
# Families with methods: one signature each
# ---------------------------------------------------------------------------------------------

# family -> (base class, {method: its positional parameters}); every other parameter of a
# method is keyword-only (options with defaults), or **options
CONTRACTS = {
    "bottom_up": (BottomUpModel, {
        "targets": ["self", "instances"],
        "loss": ["self", "outputs", "targets"],
        "postprocess": ["self", "outputs"],
        "predict_instances": ["self", "images"],
    }),
    "top_down": (TopDownModel, {
        "targets": ["self", "targets"],
        "loss": ["self", "outputs", "targets"],
        "postprocess": ["self", "outputs"],
    }),
    "universal": (UniversalModel, {
        "targets": ["self", "target"],
        "loss": ["self", "outputs", "targets"],
        "postprocess": ["self", "outputs"],
    }),
}


def check_method(cls: type, method: str, positional: list[str]) -> None:
    raw = inspect.getattr_static(cls, method)
    assert not isinstance(raw, (staticmethod, classmethod)), f"{cls.__name__}.{method} is static"
    parameters = list(inspect.signature(getattr(cls, method)).parameters.values())
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in parameters if p.kind in plain]
    assert names == positional, f"{cls.__name__}.{method}{inspect.signature(getattr(cls, method))}"
    assert not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if f in CONTRACTS])
def test_family_methods_have_one_signature(name):
    model = build(name)
    base, methods = CONTRACTS[MODELS[name]]
    assert isinstance(model, base), f"{name} is a {type(model).__name__}, not a {base.__name__}"
    for method, positional in methods.items():
        check_method(type(model), method, positional)
        # implemented by the model, not left to the base's NotImplementedError
        if method != "predict_instances":
            assert getattr(type(model), method) is not getattr(base, method), f"{name}.{method}"


def test_the_signature_check_fails_on_a_static_method_and_on_other_arguments():
    class Static(BottomUpModel):
        @staticmethod
        def targets(instances):
            return {}

    class Renamed(BottomUpModel):
        def loss(self, out, target):
            return torch.zeros(())

    with pytest.raises(AssertionError, match="static"):
        check_method(Static, "targets", ["self", "instances"])
    with pytest.raises(AssertionError, match="Renamed.loss"):
        check_method(Renamed, "loss", ["self", "outputs", "targets"])


def test_predict_instances_is_postprocess_of_forward_in_eval_mode():
    # the shared predict_instances: eval mode and no gradients inside, the mode restored after
    model = get_model("unet_weight_map", depth=1, width=4).train()
    images = torch.rand(2, 1, 16, 16)
    seen = {}

    def spy(outputs, **options):
        seen.update(training=model.training, grad=torch.is_grad_enabled(), options=options)
        return ["labels"]

    model.postprocess = spy
    assert model.predict_instances(images, prob_thresh=0.3) == ["labels"]
    assert seen == {"training": False, "grad": False, "options": {"prob_thresh": 0.3}}
    assert model.training


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if f == "universal"])
def test_universal_postprocess_takes_the_task_by_keyword(name):
    parameters = inspect.signature(type(build(name)).postprocess).parameters
    assert "task" in parameters, f"{name}.postprocess has no task"
    task = parameters["task"]
    assert task.kind is inspect.Parameter.KEYWORD_ONLY and task.default is inspect.Parameter.empty
