"""``python -m segedu.zoo.few_labels``: :func:`segedu.zoo.few_labels.main`."""

from .runs import main

raise SystemExit(main())
