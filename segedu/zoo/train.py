"""``python -m segedu.zoo.train <name> [--steps N] [--out DIR] ...``: train a zoo model.

The command looks up the zoo entry ``<name>`` (:data:`segedu.zoo.ZOO`), the recipe of its task
(:data:`RECIPES`), builds the recipe's configuration from the entry and the options given, and
calls ``recipe.train(config)``, which trains the model, scores it on the held-out split and
writes the float16 checkpoint and the model card into ``--out`` (by default the package's own
``checkpoints/``). Each recipe's module documents its recipe; a test or a notebook calls
``recipe.train(config)`` itself, with a small configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from . import FOLDER, ZOO, Task
from .cells import RECIPE as CELLS
from .clipseg import RECIPE as CLIPSEG
from .detection import RECIPE as DETECTION
from .dino import RECIPE as FEATURES
from .instances import RECIPE as INSTANCES
from .panoptic import FPN_RECIPE
from .recipe import Recipe, TrainConfig
from .sam import RECIPE as PROMPTABLE
from .sam2 import RECIPE as SAM2
from .semantic import RECIPE as SEMANTIC
from .set_prediction import RECIPE as SET_PREDICTION

__all__ = ["RECIPES", "recipe_for", "config_for", "main"]

RECIPES: dict[Task, Recipe] = {recipe.task: recipe for recipe in (
    SEMANTIC, INSTANCES, DETECTION, FPN_RECIPE, SET_PREDICTION, PROMPTABLE, FEATURES, CELLS,
    CLIPSEG, SAM2)}

# command-line options -> configuration fields (an option applies where the field exists)
OPTIONS = ("steps", "lr", "batch", "out", "minutes", "workers", "init_from", "seed",
           "class_weight", "num_queries")


def recipe_for(name: str) -> Recipe:
    """The recipe that trains zoo entry ``name``."""
    if name not in ZOO:
        raise ValueError(f"segedu.zoo has no entry {name!r}; it has: {', '.join(sorted(ZOO))}")
    return RECIPES[ZOO[name].task].for_entry(ZOO[name])


def config_for(name: str, **settings) -> TrainConfig:
    """The configuration of ``name``'s recipe with ``settings`` (fields of that configuration;
    one it does not have is an error naming the fields it has)."""
    config = recipe_for(name).config
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ValueError(f"{', '.join(unknown)} do(es) not apply to {name!r} ({config.__name__}: "
                         f"{', '.join(sorted(fields))})")
    return config(name=name, **settings)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(ZOO))
    parser.add_argument("--steps", type=int, help="default: the zoo entry's steps")
    parser.add_argument("--lr", type=float, help="the (peak) learning rate (default: the entry's)")
    parser.add_argument("--batch", type=int, help="images per step (default: the entry's)")
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder of checkpoint and card")
    parser.add_argument("--seed", type=int, help="the run's seed (initialisation, data order; "
                        "default 0)")
    parser.add_argument("--minutes", type=float,
                        help="instance, detection and panoptic models: train as many steps as fit")
    parser.add_argument("--workers", type=int, help="instance models: DataLoader workers")
    parser.add_argument("--init-from", type=Path, help="instance and panoptic models: continue "
                        "from this zoo checkpoint (its card, beside it, is quoted in the new card)")
    parser.add_argument("--class-weight", type=float, help="set-prediction models: the class "
                        "term's weight in the loss and the matching cost (default 2, the paper's)")
    parser.add_argument("--num-queries", type=int, help="set-prediction models: the number of "
                        "queries (default: the model's, 50 for Mask2Former)")
    args = parser.parse_args(argv)
    settings = {key: getattr(args, key) for key in OPTIONS if getattr(args, key) is not None}
    command = "python -m segedu.zoo.train " + " ".join(argv)
    try:
        config = config_for(args.name, command=command, **settings)
    except ValueError as error:
        parser.error(str(error))
    recipe_for(args.name).train(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
