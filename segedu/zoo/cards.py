"""Model cards of the zoo: what every recipe writes beside its checkpoint at the end of its run.

A checkpoint (``<model>_<data>.pt``, written by :func:`segedu.zoo.float16.save_float16`) has its
card (``.md`` beside it), which opens with :func:`card_head` (title, how to build the model, its
size), then says how it was trained (the command, :func:`where`, the time) and gives its held-out
scores, often as :func:`metric_table` (which the re-scoring tests read back).
"""

from __future__ import annotations

import datetime
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import ZooEntry

__all__ = ["CardText", "card_head", "metric_table", "write_card", "where", "trained_line",
           "trained_steps", "model_card",
           "write_model_card",
           "quoted_card", "replace_card_section", "card_section_text"]


def card_head(title: str, entry: ZooEntry, model: torch.nn.Module,
              kwargs: Mapping[str, object] | None = None) -> list[str]:
    """The card's first lines: ``# title`` and how to build the model (``entry``'s name with
    ``kwargs``, by default the entry's own), with its parameter count."""
    count = sum(p.numel() for p in model.parameters())
    kwargs = entry.kwargs if kwargs is None else kwargs
    arguments = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return [f"# {title}", "", f"- model: `get_model({entry.model!r}{arguments})`, {count:,} "
            "parameters, stored in float16"]


def metric_table(score: Mapping[str, float], names: Mapping[str, str] | None = None) -> list[str]:
    """The card's ``| metric | value |`` table, 3 decimals, then a blank line; ``names`` adds what
    a metric means after its key (``| miou_box (mIoU, box) | 0.812 |``)."""
    names = names or {}
    rows = [f"| {key}{f' ({names[key]})' if key in names else ''} | {value:.3f} |"
            for key, value in score.items()]
    return ["| metric | value |", "| --- | ---: |", *rows, ""]


@dataclass(frozen=True)
class CardText:
    """What a recipe's card says in its own words (:func:`model_card` adds the rest): the
    ``title``, the ``recipe`` line, the ``held_out`` line and the ``table`` lines
    (:func:`metric_table`)."""

    title: str
    recipe: str
    held_out: str
    table: Sequence[str]


def model_card(config, model: torch.nn.Module, *, title: str, trained: str, recipe: str,
               held_out: str, table: Sequence[str]) -> list[str]:
    """The lines of the card most recipes write: :func:`card_head` of ``config.entry``, the
    ``trained`` line (:func:`trained_line`), ``- recipe: <recipe>``, ``- held-out split:
    <held_out>``, a blank line, then the ``table`` lines (:func:`metric_table`, or the recipe's
    own); ``config`` a recipe's :class:`~segedu.zoo.recipe.TrainConfig`."""
    return [*card_head(title, config.entry, model, config.model_kwargs()), trained,
            f"- recipe: {recipe}", f"- held-out split: {held_out}", "", *table]


def write_model_card(config, model: torch.nn.Module, **lines) -> Path:
    """Write :func:`model_card` (``lines``: its keyword arguments) to ``config.card_path``."""
    return write_card(config.card_path, model_card(config, model, **lines))


def write_card(path: str | Path, card: Sequence[str]) -> Path:
    """Write the card's lines to ``path`` (beside the checkpoint) and print them."""
    path = Path(path)
    path.write_text("\n".join(card))
    print("\n".join(card))
    return path


def trained_line(config, device: torch.device | str, steps: int, minutes: float | None) -> str:
    """The card's first recipe line: ``- trained <date> with `<command>` on <machine>: <steps>
    steps in <minutes> min``, ``config`` a recipe's :class:`~segedu.zoo.recipe.TrainConfig`;
    ``minutes`` of every call of a resumed run, ``None`` when an earlier call did not record
    its time (:attr:`segedu.engine.History.seconds`)."""
    took = (f"in {minutes:.1f} min" if minutes is not None
            else "(resumed from a checkpoint that did not record the earlier calls' time)")
    return (f"- trained {datetime.date.today()} with `{config.command_line()}` on "
            f"{where(device)}: {steps} steps {took}")


def trained_steps(card_text: str) -> int | None:
    """The steps a card says its run trained (its :func:`trained_line`), or ``None`` if it has
    no such line."""
    found = re.search(r"^- trained .*?: (\d+) steps", card_text, flags=re.MULTILINE)
    return None if found is None else int(found.group(1))


def where(device: torch.device | str) -> str:
    """The machine a run used, for the card: the GPU's name, or the CPU and its threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} thread(s)"


def quoted_card(path: str | Path) -> str:
    """How an earlier run was trained, quoted from its card (``- trained`` and ``- recipe`` lines
    joined by ``; ``), or ``"no card"`` when there is none."""
    path = Path(path)
    lines = path.read_text().splitlines() if path.is_file() else []
    quoted = [line[2:] for line in lines if line.startswith(("- trained", "- recipe"))]
    return "; ".join(quoted) or "no card"


def _section_span(rows: list[str], heading: str) -> tuple[int, int] | None:
    """Where the section under ``heading`` lies in a card's lines: from the line that is exactly
    the heading to the next ``## `` heading (or the end); ``None`` when there is no such line."""
    if heading not in rows:
        return None
    first = rows.index(heading)
    end = next((k for k in range(first + 1, len(rows)) if rows[k].startswith("## ")), len(rows))
    return first, end


def replace_card_section(path: str | Path, lines: Sequence[str]) -> Path:
    """Replace the section of the card at ``path`` that ``lines`` opens (its first line, a
    ``## heading``; the section runs to the next ``## `` heading), or append it at the end; every
    other line of the card is kept (a measurement added after training, with its own command,
    leaves the other measurements' sections as they are)."""
    path, heading = Path(path), lines[0]
    if not heading.startswith("## "):
        raise ValueError(f"a card section opens with a '## ' heading, got {heading!r}")
    rows = path.read_text().split("\n")
    span = _section_span(rows, heading)
    before, after = (rows, []) if span is None else (rows[:span[0]], rows[span[1]:])
    text = "\n".join(before).rstrip("\n") + "\n\n" + "\n".join(lines)
    if after:  # the sections that follow, one blank line after this one
        text = text.rstrip("\n") + "\n\n" + "\n".join(after)
    path.write_text(text)
    return path


def card_section_text(path: str | Path, heading: str) -> str | None:
    """The lines of the card at ``path`` under ``heading`` (a line that is exactly that ``## ``
    heading, as :func:`replace_card_section` writes it) up to the next ``## `` heading, or
    ``None`` when the card or the section is missing: what the chapters read back from a
    measurement's section."""
    path = Path(path)
    rows = path.read_text().split("\n") if path.is_file() else []
    span = _section_span(rows, heading)
    if span is None:
        return None
    return "\n" + "\n".join(rows[span[0] + 1:span[1]])
