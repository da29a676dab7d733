r"""OneFormer's task token: "the task is {semantic|instance|panoptic}" -> one vector ``Q_task``.

OneFormer (Jain et al., CVPR 2023, section 3.1 "Task Conditioned Joint Training") trains ONE
model, once, for three tasks: for each training image a task is drawn uniformly, the ground truth
is turned into that task's segments, and the network is told which task it is solving by the
text ``"the task is {task}"``. At inference the same weights answer whichever task the prompt
names.

How the prompt becomes a vector (the original's ``task_mlp``, ``transformers``'
``OneFormerTaskModel``)::

    "the task is semantic"
      -> CLIP token ids, zero-padded            (B, 77)  [49406, 518, 10549, 533, 29119, 1550,
                                                          49407, 0, ...]      (:mod:`.tokens`)
      -> cast to float, MLP 77 -> C -> C (ReLU)  (B, C)   Q_task

The integer token ids themselves, as numbers, are the MLP's input: no embedding table. Three
prompts are all the MLP ever sees, so it only has to tell three fixed vectors apart; what matters
is that ``Q_task`` then initialises the queries (:mod:`.query_transformer`) and joins them as one
more query (:mod:`.transformer_decoder`), so that every prediction depends on the task.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ....nn.mlp import MLP
from ..base import TASKS
from .tokens import clip_token_ids

__all__ = ["task_prompt", "task_token_ids", "TaskEncoder"]


def task_prompt(task: str) -> str:
    """``"the task is {task}"`` for one of ``semantic``, ``instance``, ``panoptic``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return f"the task is {task}"


def task_token_ids(tasks: Sequence[str], *, length: int = 77) -> torch.Tensor:
    """One task per image -> the prompts' token ids ``(B, length)`` int64, as ``transformers``'
    ``OneFormerProcessor`` gives them in ``task_inputs``."""
    if isinstance(tasks, str):
        raise TypeError("tasks must be a sequence of task names, one per image")
    return clip_token_ids([task_prompt(t) for t in tasks], length=length)


class TaskEncoder(nn.Module):
    """Task token ids ``(B, L)`` -> the task token ``Q_task (B, C)``: a two-layer MLP on the ids
    as floats (the module docstring).

    Args (keyword-only):
        seq_len: ``L``, the prompt's token length (77).
        dim: ``C``, the query width.
    """

    def __init__(self, *, seq_len: int = 77, dim: int = 256) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.mlp = MLP(input_dim=seq_len, hidden_dim=dim, output_dim=dim, num_layers=2)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.ndim != 2 or token_ids.shape[1] != self.seq_len:
            raise ValueError(f"task token ids must be (B, {self.seq_len}), got "
                             f"{tuple(token_ids.shape)}")
        # the ids, as numbers, are the features: in float32 under autocast too (16-bit floats
        # round large ids: bfloat16 reads 49407 as 49408 and 10549 as 10560)
        with torch.autocast(device_type=token_ids.device.type, enabled=False):
            return self.mlp(token_ids.to(self.mlp.layers[0].weight.dtype))  # (B, C)
