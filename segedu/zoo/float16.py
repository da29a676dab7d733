"""The zoo's checkpoint format: a state dict in float16 on the CPU, loaded back in float32.

Half precision halves the files shipped inside the package; the models are trained and run in
float32, so loading converts every floating tensor back. The files are written atomically
(:func:`segedu.engine.save_atomically`): a run stopped while writing one leaves the previous file
whole.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..engine import save_atomically

__all__ = ["save_float16", "load_float32"]


def save_float16(model: torch.nn.Module, path: str | Path) -> Path:
    """Save ``model``'s state dict to ``path``: floating tensors in float16, all on the CPU
    (wherever the model was trained) and contiguous (whatever the memory format it was trained
    in), atomically; the folder is created. Returns the path."""
    state = {k: (v.half() if v.is_floating_point() else v).cpu().contiguous()
             for k, v in model.state_dict().items()}
    return save_atomically(state, path)


def load_float32(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint written by :func:`save_float16`, floating tensors back in float32."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
