"""What a family declares about a network for :mod:`segedu.viz.diagram`: its blocks (which
submodule, where on the layout grid), the edges between them (the data path, skips that
concatenate or add, pooling indices, learned embeddings or prompts that enter), buses of pyramid
levels, and named groups of blocks. No shapes: those come from running the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Block", "Edge", "Bus", "Structure", "EDGE_KINDS"]

# how each kind of connection is drawn: (colour, line style, legend text)
EDGE_KINDS: dict[str, tuple[str, str, str]] = {
    "flow": ("#333333", "-", "data path"),
    "concat": ("#1f77b4", "--", "concatenated"),
    "add": ("#d95f02", "--", "added"),
    "indices": ("#7b3294", ":", "pooling indices"),
    "enter": ("#1b7837", "-.", "learned embeddings / prompts enter"),
}


@dataclass(frozen=True)
class Block:
    """One box of a diagram.

    ``name``: its title and key. ``at``: its ``(column, row)`` on the layout grid (rows grow
    downwards; fractions allowed). What it shows, exactly one of:

    - ``module``: the dotted path of a submodule (``""``: the whole model); the block shows the
      module's output (``read="output"``) or its input (``read="input"``: positional arguments by
      index, keyword arguments by name), then ``pick`` indexes into it (dict keys, list/tuple
      indices) down to one tensor;
    - ``parameter``: the dotted path of a parameter that enters the network as it is (learned
      queries, output tokens); its shape is the parameter's.

    ``params``: the modules (or single parameters) whose weights the block counts (default:
    ``module``; none for the whole model's output and for a module's input).
    ``batched``: drop the first dimension (the batch) from the shape shown.
    """

    name: str
    at: tuple[float, float]
    module: str | None = None
    read: str = "output"
    pick: tuple[Any, ...] = ()
    parameter: str | None = None
    params: tuple[str, ...] | None = None
    batched: bool = True

    def __post_init__(self) -> None:
        if (self.module is None) == (self.parameter is None):
            raise ValueError(f"block {self.name!r}: give exactly one of module and parameter")
        if self.read not in ("output", "input"):
            raise ValueError(f"block {self.name!r}: read must be 'output' or 'input', "
                             f"got {self.read!r}")


@dataclass(frozen=True)
class Edge:
    """An arrow from block ``src`` to block ``dst``; ``kind`` is a key of :data:`EDGE_KINDS`.
    ``elbow``: ``"hv"`` goes horizontally then vertically, ``"vh"`` the other way, ``None``
    straight."""

    src: str
    dst: str
    kind: str = "flow"
    elbow: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EDGE_KINDS:
            raise ValueError(f"edge {self.src} -> {self.dst}: unknown kind {self.kind!r}; "
                             f"kinds: {', '.join(EDGE_KINDS)}")
        if self.elbow not in (None, "hv", "vh"):
            raise ValueError(f"edge {self.src} -> {self.dst}: elbow must be None, 'hv' or 'vh'")


@dataclass(frozen=True)
class Bus:
    """Several blocks (a pyramid's levels) that all feed several others: a vertical line right of
    the sources, a tick from each source, an arrow from the line to each target (targets lie to
    the right of the sources)."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Structure:
    """A family's declaration of a network: blocks, edges, buses and named groups of blocks
    (drawn as a labelled frame: SAM's three parts, a detector's stages)."""

    blocks: tuple[Block, ...]
    edges: tuple[Edge, ...] = ()
    buses: tuple[Bus, ...] = ()
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        names = [block.name for block in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique, got {names}")
        pairs = [(e.src, e.dst, e.kind) for e in self.edges]
        if len(set(pairs)) != len(pairs):
            twice = sorted({p for p in pairs if pairs.count(p) > 1})
            raise ValueError(f"edges declared twice: {twice}")
        known = set(names)
        ends = [(e.src, e.dst) for e in self.edges]
        ends += [(s, t) for bus in self.buses for s in bus.sources for t in bus.targets]
        ends += [(n, n) for _, members in self.groups for n in members]
        for src, dst in ends:
            for end in (src, dst):
                if end not in known:
                    raise ValueError(f"an edge, bus or group names {end!r}, which is no block; "
                                     f"blocks: {', '.join(names)}")
