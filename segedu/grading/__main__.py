"""``python -m segedu.grading <subcommand> ...`` is ``segedu-grade <subcommand> ...``: both run
:func:`segedu.grading.cli.main`, grading (the default) and every row of the one command table,
:data:`~segedu.grading.cli.SUBCOMMANDS` (``generate``, ``export``, ``manual``, ``gradescope``,
``release``)::

    python -m segedu.grading generate [--solutions DIR] [--labs DIR] [--check]
    python -m segedu.grading grade --lab ... --submissions ... --out ...
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
