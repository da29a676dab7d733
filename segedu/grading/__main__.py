"""``python -m segedu.grading <subcommand> ...`` is ``segedu-grade <subcommand> ...``: grading (the
default, :mod:`.grade`) and every row of the one command table, :data:`.cli.SUBCOMMANDS`
(``generate``, ``export``, ``manual``)::

    python -m segedu.grading generate [--solutions DIR] [--labs DIR] [--check]
    python -m segedu.grading grade --lab ... --submissions ... --out ...
"""

from __future__ import annotations

from .grade import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
