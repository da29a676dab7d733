"""``python -m segedu.slides <BOOK_OUT>/_build/jupyter_execute --out _build/slides [--pdf]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import build_decks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segedu.slides",
        description="One reveal.js deck per executed chapter of a book build (make slides).")
    parser.add_argument("executed", type=Path,
                        help="the book build's executed chapters: "
                        "<BOOK_OUT>/_build/jupyter_execute")
    parser.add_argument("--out", type=Path, default=Path("_build/slides"),
                        help="where the decks go (default: _build/slides)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print each deck to <chapter>/<chapter>.pdf (headless Chromium)")
    parser.add_argument("--chapter", action="append", dest="chapters", metavar="NAME",
                        help="only this chapter (e.g. 05_conv_arithmetic); may be repeated")
    args = parser.parse_args(argv)
    try:
        decks = build_decks(args.executed, args.out, pdf=args.pdf, chapters=args.chapters)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"segedu.slides: {error}", file=sys.stderr)
        return 1
    print(f"{len(decks)} decks in {args.out}/ (open {args.out}/index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
