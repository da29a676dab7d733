"""What the cell models of the zoo train on: one kind of synthetic cells per ``ZooEntry.data``.

The cell recipe (:mod:`segedu.zoo.cells`) trains and scores every cell entry the same way; the
entry's ``data`` picks the images (:data:`CELL_DATA`):

- ``"cells"``: :class:`~segedu.data.SyntheticCells`' nuclei, every image labelled (StarDist,
  Cellpose, the U-Net with the weight map, spatial embeddings);
- ``"rods"``: :class:`~segedu.data.SyntheticRods`' thin, bent, touching rods, every image labelled:
  Omnipose's cells, and Cellpose trained on them for the comparison that the Omnipose paper makes
  (Cutler et al. 2022);
- ``"noisy_cells"``: the nuclei with Gaussian noise of standard deviation :data:`NOISE` (DenoiSeg's
  noisiest DSB setting, n20: 20 on 8-bit images), of which only the first :data:`LABELLED` share
  of the training images keep their labels (Buchholz et al. 2020 train with few labels); the
  others are given as all-zero label images, which DenoiSeg learns from through its Noise2Void
  term only;
- ``"noisy_cells_labelled"``: the same noisy nuclei, the labelled images alone: what a model
  without a self-supervised term trains on (DenoiSeg's baseline, the same network with
  ``alpha = 0``).

The held-out split of a kind is its images of seed 1, every one labelled (and noisy where the
kind is noisy; the same images of its ``clean`` kind are the images before the noise, which scores
a model's denoising).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..data import SyntheticCells, SyntheticRods

__all__ = ["NOISE", "LABELLED", "CellData", "CELL_DATA", "cell_data"]

NOISE = 20 / 255  # DenoiSeg's n20, in the units of images in [0, 1]
LABELLED = 0.1  # the share of the noisy training images that keep their labels


@dataclass(frozen=True)
class CellData:
    """A kind of synthetic cells: ``dataset(size=, length=, seed=)`` draws them; ``labelled`` is
    the share of the training images whose labels are kept (the first ones); ``labelled_only``
    trains on those alone; ``words`` describes the kind in a card; ``clean`` names the kind that
    draws the same images without the added noise (``None``: no noise added)."""

    dataset: Callable[..., SyntheticCells]
    words: str
    labelled: float = 1.0
    labelled_only: bool = False
    clean: str | None = None

    def labelled_images(self, images: int) -> int:
        """How many of ``images`` training images keep their labels (at least one)."""
        return max(1, math.floor(self.labelled * images))


CELL_DATA: dict[str, CellData] = {
    "cells": CellData(SyntheticCells, "`SyntheticCells` nuclei"),
    "rods": CellData(SyntheticRods, "`SyntheticRods` rods (thin, bent, touching)"),
    "noisy_cells": CellData(
        functools.partial(SyntheticCells, noise=NOISE),
        f"`SyntheticCells(noise={NOISE:.4f})` nuclei (DenoiSeg's n20), the first "
        f"{LABELLED:.0%} labelled, the others through the Noise2Void term only", LABELLED,
        clean="cells"),
    "noisy_cells_labelled": CellData(
        functools.partial(SyntheticCells, noise=NOISE),
        f"`SyntheticCells(noise={NOISE:.4f})` nuclei (DenoiSeg's n20), only the first "
        f"{LABELLED:.0%}, the labelled ones", LABELLED, labelled_only=True, clean="cells"),
}


def cell_data(name: str) -> CellData:
    """The kind of cells named ``name``; an unknown name is an error that lists the kinds."""
    if name not in CELL_DATA:
        raise ValueError(f"no cell data named {name!r}; the kinds are: {', '.join(CELL_DATA)}")
    return CELL_DATA[name]
