"""The guard's signed records, as the grader reads them back.

The kernel's guard (:mod:`~segedu.grading.guard`) publishes one record per graded cell it runs:
``{"body": "gid|passed|n|replaced|calls", "mac": HMAC-SHA256(key, body)}`` where ``passed`` is
``1`` or ``0`` (or ``0:earned/total`` for a failed cell of checks with points, whose passing checks
earned ``earned`` of their ``total`` points: :func:`partial_share`), ``n`` counts the records,
``replaced`` lists (``;``-separated) what the notebook had replaced, and ``calls`` what the call
recorder (:mod:`~segedu.grading.recorder`) saw the TODOs' answers call (``todo~name~where``,
``;``-separated). The key is made by the grader for one run and known only to it and the guard.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["FIELDS", "signed_bodies", "partial_share"]

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


def partial_share(records, gid: str, key: bytes) -> float | None:
    """The share (0 to 1) of its points that a failed graded cell ``gid`` earned by its checks with
    points (:func:`segedu.grading.checks.finish_checks`), read from its signed record; ``None``
    when the record gives no score (a cell of one check, or no signed record)."""
    share = None
    for body in signed_bodies(records, key)[0]:
        flag, _, score = body["passed"].partition(":")
        earned, _, total = score.partition("/")
        if body["gid"] != gid or flag != "0" or not total:
            continue
        try:
            earned_points, total_points = float(earned), float(total)
        except ValueError:
            continue
        if total_points > 0 and 0 <= earned_points <= total_points:
            share = earned_points / total_points
    return share
