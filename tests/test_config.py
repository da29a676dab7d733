"""segedu.config: fast mode, device choice, seeding, cache folder."""

import random
import sys
import types

import numpy as np
import pytest
import torch

from segedu import config


@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False)],
)
def test_fast_reads_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SEGEDU_FAST", value)
    assert config.fast() is expected
    assert config.pick(full=100, fast_value=2) == (2 if expected else 100)


def test_fast_off_when_unset(monkeypatch):
    monkeypatch.delenv("SEGEDU_FAST", raising=False)
    assert config.fast() is False


def test_fast_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv("SEGEDU_FAST", "maybe")
    with pytest.raises(ValueError, match="SEGEDU_FAST"):
        config.fast()


def test_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.device().type == "cpu"


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3)

    config.seed_everything(123)
    a = draw()
    config.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    config.seed_everything(124)
    c = draw()
    assert a[0] != c[0] and not torch.equal(a[2], c[2])


def test_seed_everything_rejects_non_int():
    with pytest.raises(TypeError, match="seed"):
        config.seed_everything(1.5)


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    target = tmp_path / "cache" / "here"
    monkeypatch.setenv("SEGEDU_CACHE", str(target))
    assert config.cache_dir() == target
    assert target.is_dir()


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGEDU_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.cache_dir() == tmp_path / ".cache" / "segedu"


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("on", True), ("0", False), ("false", False)]
)
@pytest.mark.parametrize("colab", [False, True])
def test_online_follows_an_explicit_value_on_colab_or_not(monkeypatch, value, expected, colab):
    monkeypatch.setenv("SEGEDU_ONLINE", value)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert config.online() is expected


@pytest.mark.parametrize("unset", ["delete", ""])
def test_online_unset_means_on_colab_only(monkeypatch, unset):
    if unset == "delete":
        monkeypatch.delenv("SEGEDU_ONLINE", raising=False)
    else:
        monkeypatch.setenv("SEGEDU_ONLINE", unset)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert config.on_colab() is False and config.online() is False
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert config.on_colab() is True and config.online() is True


def test_online_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv("SEGEDU_ONLINE", "sometimes")
    with pytest.raises(ValueError, match="SEGEDU_ONLINE='sometimes'"):
        config.online()


def test_announce_prints_one_line_naming_data_weights_and_mode(monkeypatch, capsys):
    monkeypatch.setenv("SEGEDU_ONLINE", "0")
    line = config.announce(data="synthetic scenes (64 px)", weights="random init")
    out = capsys.readouterr().out
    assert out == line + "\n" and out.count("\n") == 1
    assert "synthetic scenes (64 px)" in line and "random init" in line
    assert "online mode: off" in line
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    assert "online mode: on" in config.announce(data="Oxford-IIIT Pet", weights="official")


@pytest.mark.parametrize("data, weights", [("", "x"), ("x", "  "), (None, "x")])
def test_announce_rejects_empty_names(data, weights):
    with pytest.raises(ValueError, match="announce"):
        config.announce(data=data, weights=weights)
