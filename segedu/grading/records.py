"""The guard's signed records, as the grader reads them back.

The kernel's guard (:mod:`~segedu.grading.guard`) publishes one record per graded cell it runs:
``{"body": "gid|passed|n|replaced|calls", "mac": HMAC-SHA256(key, body)}`` where ``passed`` is
``1`` or ``0``, ``n`` counts the records, ``replaced`` lists (``;``-separated) what the notebook had
replaced, and ``calls`` what the call recorder (:mod:`~segedu.grading.recorder`) saw the TODOs'
answers call (``todo~name~where``, ``;``-separated). The key is made by the grader for one run and
known only to it and the guard.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["FIELDS", "signed_bodies"]

FIELDS = ("gid", "passed", "count", "replaced", "calls")


def signed_bodies(records, key: bytes) -> tuple[list[dict[str, str]], bool]:
    """The fields (:data:`FIELDS`) of every correctly signed record among ``records`` (dicts with
    ``body`` and ``mac``), in order, and whether any record was signed wrongly (forged)."""
    bodies, forged = [], False
    for record in records:
        body, mac = str(record.get("body", "")), str(record.get("mac", ""))
        expected = hmac.new(key, body.encode("utf8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            forged = True
            continue
        values = (body.split("|", len(FIELDS) - 1) + [""] * len(FIELDS))[:len(FIELDS)]
        bodies.append(dict(zip(FIELDS, values, strict=True)))
    return bodies, forged
