"""Block diagrams of networks, recorded from the real module.

:func:`record_architecture` runs a model once on an example input with forward hooks on the
submodules that its family's structure (:mod:`segedu.viz.architectures`) names as blocks, and keeps
each block's output shape, its parameter count and how often it ran. :func:`draw_architecture`
draws those blocks as a vector block diagram with matplotlib: box height grows with the block's
resolution, colour with its channels, and each box is labelled with the shape the run produced.
A structure declares only *which* submodules are blocks and *how* they connect (the data path,
skips that concatenate or add, pooling indices, a bus of pyramid levels, the places where
prompts or learned queries enter) and where each sits on a grid; every shape and count comes from
the run, so the picture cannot disagree with the code.

Example::

    model = get_model("unet", width=8, depth=3)
    fig = draw_architecture(model, torch.zeros(1, 3, 64, 64))
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.textpath import TextToPath
from torch import nn

from .architectures import architecture
from .diagram_structure import EDGE_KINDS, Block, Structure

__all__ = ["RecordedBlock", "Diagram", "record_architecture", "draw_architecture", "draw_diagram",
           "svg_figure", "format_shape", "format_count"]

@dataclass(frozen=True)
class RecordedBlock:
    """A block as the run saw it: ``shape`` (batch dropped when the block is batched; ``None``
    when the run never reached it), ``params`` and ``calls`` (how often its module ran)."""

    block: Block
    shape: tuple[int, ...] | None
    params: int
    calls: int


@dataclass
class Diagram:
    """What :func:`record_architecture` recorded: the structure, each block's record by name,
    the input's shape, and the error that stopped the run (``None`` when it ran through)."""

    structure: Structure
    blocks: dict[str, RecordedBlock] = field(default_factory=dict)
    error: str | None = None


def format_shape(shape: Sequence[int] | None) -> str:
    """``(64, 32, 32)`` -> ``"64×32×32"``; ``None`` -> ``"not reached"``."""
    if shape is None:
        return "not reached"
    return "×".join(str(int(d)) for d in shape) if len(shape) else "scalar"


def format_count(count: int) -> str:
    """A parameter count for a box: ``0`` -> ``"no weights"``, ``1234`` -> ``"1.2k params"``."""
    if count == 0:
        return "no weights"
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:.3g}{unit} params"
    return f"{count} params"


def _pick(value: Any, keys: tuple[Any, ...], where: str) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError) as error:
            raise ValueError(f"{where}: cannot pick {key!r} from a {type(value).__name__} "
                             f"({error})") from None
    return value


def _param_paths(block: Block) -> tuple[str, ...]:
    """The modules whose parameters a block counts: ``params`` if given, else none for the model's
    input or output and for a module's input, else the module."""
    if block.params is not None:
        return block.params
    if block.module == "" or block.read == "input":
        return ()
    return (block.module,)


def _module(model: nn.Module, path: str) -> nn.Module:
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise ValueError(f"{type(model).__name__} has no submodule {path!r}") from None


def _count(model: nn.Module, paths: Sequence[str]) -> int:
    """The parameters of the modules (or single parameters) at ``paths``, each counted once."""
    seen: dict[int, int] = {}
    for path in paths:
        try:
            tensors = [model.get_parameter(path)]
        except AttributeError:
            tensors = list(_module(model, path).parameters())
        for p in tensors:
            seen[id(p)] = p.numel()
    return sum(seen.values())


def record_architecture(model: nn.Module, example: Any, *, structure: Structure | None = None,
                        errors: str = "raise") -> Diagram:
    """Run ``model`` once on ``example`` (its input, or a tuple of its positional arguments), in
    evaluation mode and without gradients, and record every block of ``structure`` (default: the
    family's, :func:`segedu.viz.architectures.architecture`). The model's training mode is
    restored afterwards.

    ``errors="draw"``: an exception in the forward pass (other than ``NotImplementedError``, the
    mark of unwritten lab code) is kept in ``Diagram.error`` and the blocks it did not reach have
    ``shape=None``; ``"raise"`` (default) lets it through.
    """
    if errors not in ("raise", "draw"):
        raise ValueError(f"errors must be 'raise' or 'draw', got {errors!r}")
    if structure is None:
        structure = architecture(model)
    paths = sorted({b.module for b in structure.blocks if b.module is not None})
    seen: dict[str, dict[str, Any]] = {path: {"calls": 0} for path in paths}

    def keep_input(path: str):
        def hook(module, args, kwargs):
            record = seen[path]
            if "input" not in record:
                record["input"] = (args, kwargs)
        return hook

    def keep_output(path: str):
        def hook(module, args, output):
            record = seen[path]
            record["calls"] += 1
            if "output" not in record:
                record["output"] = output
        return hook

    handles = []
    for path in paths:
        module = _module(model, path)
        handles.append(module.register_forward_pre_hook(keep_input(path), with_kwargs=True))
        handles.append(module.register_forward_hook(keep_output(path)))
    args = example if isinstance(example, tuple) else (example,)
    training = model.training
    diagram = Diagram(structure=structure)
    try:
        model.eval()
        with torch.no_grad():
            model(*args)
    except NotImplementedError:
        raise
    except Exception as error:  # the lab's half-built networks: draw what ran
        if errors == "raise":
            raise
        diagram.error = f"{type(error).__name__}: {error}"
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)

    for block in structure.blocks:
        where = f"block {block.name!r}"
        if block.parameter is not None:
            try:
                tensor = model.get_parameter(block.parameter)
            except AttributeError:
                raise ValueError(f"{where}: {type(model).__name__} has no parameter "
                                 f"{block.parameter!r}") from None
            shape: tuple[int, ...] | None = tuple(tensor.shape)
            calls = 1
            params = tensor.numel() if block.params is None else _count(model, block.params)
        else:
            record = seen[block.module]
            calls = record["calls"]
            params = _count(model, _param_paths(block))
            value = record.get(block.read)
            if value is None:
                shape = None
            else:
                if block.read == "input":
                    inputs, kwargs = value
                    first, rest = block.pick[0], block.pick[1:]
                    value = inputs[first] if isinstance(first, int) else kwargs.get(first)
                    value = _pick(value, rest, where)
                else:
                    value = _pick(value, block.pick, where)
                if not isinstance(value, torch.Tensor):
                    raise ValueError(f"{where}: {block.module!r} {block.read} picked by "
                                     f"{block.pick} is a {type(value).__name__}, not a tensor")
                shape = tuple(value.shape)
            if shape is not None and block.batched:
                shape = shape[1:]
        diagram.blocks[block.name] = RecordedBlock(block=block, shape=shape, params=params,
                                                   calls=calls)
    return diagram


# -- drawing --------------------------------------------------------------------------------------

PAGE_WIDTH = 8.0  # inches: the book's page width
ROW_HEIGHT = 0.95  # inches between rows
BOX_HEIGHTS = (0.46, 0.66)  # inches: the lowest and the highest resolution
FRAME_PAD = 0.05  # inches between a group's frame and its blocks
_TEXT_TO_PATH = TextToPath()  # measures text with the font's metrics


def _resolution(shape: tuple[int, ...] | None) -> float | None:
    """The spatial size of a map ``(C, H, W)`` (or ``(K, C, H, W)``): ``sqrt(H W)``;
    ``None`` for tokens and vectors."""
    if shape is None or len(shape) < 3:
        return None
    return math.sqrt(shape[-1] * shape[-2])


def _fit(text: str, box_width: float, *, bold: bool = False) -> float:
    """A font size (points) at which ``text`` fits a box ``box_width`` inches wide, with a margin:
    7 points at most, 4.5 at least; measured with the font's metrics at 7 points."""
    prop = FontProperties(size=7, weight="bold" if bold else "normal")
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return max(4.5, min(7.0, 7 * 0.88 * box_width * 72 / max(width, 1e-6)))  # width: points


def _channels(shape: tuple[int, ...] | None) -> int | None:
    if shape is None or not shape:
        return None
    return shape[-3] if len(shape) >= 3 else shape[-1]


def draw_architecture(model: nn.Module, example: Any, *, structure: Structure | None = None,
                      title: str | None = None, ax: plt.Axes | None = None,
                      errors: str = "raise", legend: bool = True) -> Figure:
    """Record ``model`` on ``example`` (:func:`record_architecture`) and draw its block diagram.

    Each box shows the block's name, its recorded output shape (batch dropped; a module that ran
    ``n > 1`` times, e.g. a head shared by pyramid levels, is marked ``×n`` and shows its first
    call) and its parameter count. Box height grows with the resolution (log scale), colour
    darkens with the channels. Returns the figure, ``PAGE_WIDTH`` (8) inches wide unless ``ax``
    is given.
    """
    diagram = record_architecture(model, example, structure=structure, errors=errors)
    return draw_diagram(diagram, title=title, ax=ax, legend=legend)


def draw_diagram(diagram: Diagram, *, title: str | None = None, ax: plt.Axes | None = None,
                 legend: bool = True) -> Figure:
    """Draw a recorded :class:`Diagram` (see :func:`draw_architecture`)."""
    structure = diagram.structure
    blocks = structure.blocks
    cols = [b.at[0] for b in blocks]
    rows = [b.at[1] for b in blocks]
    col0, row0 = min(cols), min(rows)
    ncols = max(cols) - col0 + 1
    nrows = max(rows) - row0 + 1
    dx = min(PAGE_WIDTH / ncols, 1.45)
    box_w = min(0.92 * dx, 1.0)
    width = dx * ncols
    top_pad = 0.35 if structure.groups else 0.1
    height = nrows * ROW_HEIGHT + top_pad
    if ax is None:  # axes at one inch per data unit: the boxes keep their size on the page
        below = (0.55 if legend else 0.2) + (0.2 if diagram.error else 0)
        above = 0.3 if title else 0.05
        total = height + below + above
        fig = plt.figure(figsize=(width, total))
        ax = fig.add_axes((0, below / total, 1, height / total))
    else:
        fig = ax.figure
    ax.set_xlim(0, width)
    ax.set_ylim(-height, 0)
    ax.set_aspect("equal")
    ax.axis("off")

    recorded = diagram.blocks
    sizes = [r for r in (_resolution(x.shape) for x in recorded.values()) if r]
    channels = [c for c in (_channels(x.shape) for x in recorded.values()) if c]
    lo_res, hi_res = (math.log2(min(sizes)), math.log2(max(sizes))) if sizes else (0, 0)
    lo_ch, hi_ch = (math.log2(min(channels)), math.log2(max(channels))) if channels else (0, 0)
    cmap = plt.get_cmap("YlGnBu")

    def centre(block: Block) -> tuple[float, float]:
        return ((block.at[0] - col0 + 0.5) * dx, -(top_pad + (block.at[1] - row0 + 0.5)
                                                   * ROW_HEIGHT))

    patches: dict[str, FancyBboxPatch] = {}
    boxes: dict[str, tuple[float, float, float, float]] = {}  # name -> x0, y0, x1, y1
    for block in blocks:
        record = recorded[block.name]
        res = _resolution(record.shape)
        f = (math.log2(res) - lo_res) / (hi_res - lo_res) if res and hi_res > lo_res else 0.0
        box_h = BOX_HEIGHTS[0] + f * (BOX_HEIGHTS[1] - BOX_HEIGHTS[0])
        ch = _channels(record.shape)
        g = (math.log2(ch) - lo_ch) / (hi_ch - lo_ch) if ch and hi_ch > lo_ch else 0.0
        if record.shape is None:
            face, edge, style, hatch = "#eeeeee", "#999999", "--", "///"
        elif block.parameter is not None:
            face, edge, style, hatch = "white", EDGE_KINDS["enter"][0], "-.", None
        else:
            face, edge, style, hatch = cmap(0.08 + 0.42 * g), "#555555", "-", None
        x, y = centre(block)
        patch = FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                               boxstyle="round,pad=0,rounding_size=0.05", facecolor=face,
                               edgecolor=edge, linestyle=style, hatch=hatch, linewidth=0.9,
                               zorder=3)
        ax.add_artist(patch)  # add_artist: the limits are set above, nothing to autoscale
        patches[block.name] = patch
        boxes[block.name] = (x - box_w / 2, y - box_h / 2, x + box_w / 2, y + box_h / 2)
        name = block.name + (f" ×{record.calls}" if record.calls > 1 else "")
        lines = [(name, "bold", "black", 0.13), (format_shape(record.shape), "normal", "black", 0),
                 (format_count(record.params), "normal", "#444444", -0.13)]
        for text, weight, colour, offset in lines:
            ax.text(x, y + offset, text, ha="center", va="center", fontweight=weight,
                    color=colour, fontsize=_fit(text, box_w, bold=weight == "bold"), zorder=4)

    used = _draw_edges(ax, structure, centre, patches, boxes)
    _draw_groups(ax, structure, boxes)
    if title:
        ax.set_title(title, fontsize=9)
    _draw_caption_and_legend(ax, fig, diagram, height=height, width=width,
                             used=used if legend else set(), cmap=cmap)
    return fig


def _arrow(ax: plt.Axes, start, end, kind: str, connection: str = "arc3", patch_a=None,
           patch_b=None, head: bool = True) -> None:
    """An arrow of edge kind ``kind`` (:data:`EDGE_KINDS`) from ``start`` to ``end``."""
    colour, style, _ = EDGE_KINDS[kind]
    ax.add_artist(FancyArrowPatch(start, end, patchA=patch_a, patchB=patch_b,
                                 arrowstyle="-|>,head_length=3,head_width=1.6" if head
                                 else "-", connectionstyle=connection, color=colour,
                                 linestyle=style, linewidth=1.0, shrinkA=1, shrinkB=1,
                                 mutation_scale=1.4, zorder=2))


def _draw_edges(ax: plt.Axes, structure: Structure, centre, patches: dict[str, FancyBboxPatch],
                boxes: dict[str, tuple[float, float, float, float]]) -> set[str]:
    """The structure's edges and buses between the drawn boxes; return the edge kinds used."""
    used, drawn = set(), set()
    for e in structure.edges:
        src, dst = structure_block(structure, e.src), structure_block(structure, e.dst)
        connection = "arc3" if (e.src, e.dst) not in drawn else "arc3,rad=-0.4"  # a second edge
        drawn.add((e.src, e.dst))
        if e.elbow == "hv":
            connection = "angle,angleA=0,angleB=90,rad=0"
        elif e.elbow == "vh":
            connection = "angle,angleA=90,angleB=0,rad=0"
        _arrow(ax, centre(src), centre(dst), e.kind, connection, patches[e.src], patches[e.dst])
        used.add(e.kind)
    for bus in structure.buses:
        # halfway between the sources and the frames around the targets
        right = max(boxes[s][2] for s in bus.sources)
        x_line = right + (min(boxes[t][0] for t in bus.targets) - FRAME_PAD - right) / 2
        ys = [centre(structure_block(structure, n))[1] for n in bus.sources + bus.targets]
        colour = EDGE_KINDS["flow"][0]
        ax.add_line(Line2D([x_line, x_line], [min(ys), max(ys)], color=colour, linewidth=1.0,
                           zorder=2))
        for s in bus.sources:
            y = centre(structure_block(structure, s))[1]
            ax.add_line(Line2D([boxes[s][2], x_line], [y, y], color=colour, linewidth=1.0,
                               zorder=2))
        for t in bus.targets:
            y = centre(structure_block(structure, t))[1]
            _arrow(ax, (x_line, y), (boxes[t][0], y), "flow")
        used.add("flow")

    return used


def _draw_groups(ax: plt.Axes, structure: Structure,
                 boxes: dict[str, tuple[float, float, float, float]]) -> None:
    """A grey frame, labelled at its top right, around each group of blocks."""
    for label, members in structure.groups:
        x0 = min(boxes[m][0] for m in members) - FRAME_PAD
        y0 = min(boxes[m][1] for m in members) - FRAME_PAD
        x1 = max(boxes[m][2] for m in members) + FRAME_PAD
        y1 = max(boxes[m][3] for m in members) + FRAME_PAD
        ax.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="#f4f4f4",
                               edgecolor="#bbbbbb", linewidth=0.8, zorder=0))
        # at the right end of the frame's top: arrows into a frame come from the left
        ax.text(x1 - 0.05, y1 + 0.04, label, fontsize=7, style="italic", color="#333333",
                ha="right", va="bottom", zorder=1)


def _draw_caption_and_legend(ax: plt.Axes, fig: Figure, diagram: Diagram, *, height: float,
                             width: float, used: set[str], cmap) -> None:
    """Under the boxes: where the shapes come from, the error that stopped the run, the
    legend of the edge kinds ``used`` (none: no legend)."""
    recorded = diagram.blocks
    image = recorded.get("image")
    if image is not None and image.shape is not None:
        ax.text(0.05, -height, f"Recorded by running the model on a {format_shape(image.shape)} "
                "input: every shape and parameter count comes from that run.", fontsize=6.5,
                color="#444444", ha="left", va="top")
    error_lines = 0.0
    if diagram.error:  # under the caption, shortened to the axes' width on the page
        inches = ax.get_position().width * fig.get_figwidth()
        message = textwrap.shorten(f"the run stopped: {diagram.error}", int(inches / 0.058))
        ax.text(0.05, -height - 0.15, message, fontsize=7, color="#b2182b", ha="left",
                va="top")
        error_lines = 0.17 * width / inches  # that line's height, in data units
    if used:
        handles = [Line2D([], [], color=EDGE_KINDS[k][0], linestyle=EDGE_KINDS[k][1],
                          label=EDGE_KINDS[k][2]) for k in EDGE_KINDS if k in used]
        handles.append(Rectangle((0, 0), 1, 1, facecolor=cmap(0.3), edgecolor="#555555",
                                 label="box: height ~ resolution, colour ~ channels"))
        ax.legend(handles=handles, loc="upper center",
                  bbox_to_anchor=(0.5, -(0.12 + error_lines) / height),
                  ncol=min(len(handles), 3), fontsize=6.5, frameon=False, handlelength=2.5)


def structure_block(structure: Structure, name: str) -> Block:
    """The block of ``structure`` called ``name``."""
    for block in structure.blocks:
        if block.name == name:
            return block
    raise ValueError(f"no block named {name!r}")


def svg_figure(fig: Figure):
    """``fig`` as an ``IPython.display.SVG`` (a vector image in a notebook and in the book), the
    figure closed so that the inline backend does not show it a second time as a PNG."""
    import io

    from IPython.display import SVG

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")  # draw_architecture's figures are sized to their content
    plt.close(fig)
    return SVG(buffer.getvalue())
