"""The grader's end of its channel with the kernel's guard: what the guard is told, and what it
says back.

:mod:`~segedu.grading.kernel.cell_guard` (and its call recorder,
:mod:`~segedu.grading.kernel.call_recorder`) is the kernel's end. The grader tells it, for one lab,
what to watch and re-bind (:class:`GuardPlan`, :func:`guard_plan`) and, for one run, the key and the
graded cells' sources (:func:`guard_config`). The guard publishes one record per graded cell it
runs: ``{"body": "gid|passed|n|replaced|calls", "mac": HMAC-SHA256(key, body)}`` where ``passed`` is
``1`` or ``0`` (or ``0:earned/total`` for a failed cell of checks with points, whose passing checks
earned ``earned`` of their ``total`` points: :func:`partial_share`), ``n`` counts the records,
``replaced`` lists (``;``-separated) what the notebook had replaced, and ``calls`` what the call
recorder (:mod:`~segedu.grading.kernel.call_recorder`) saw the TODOs' answers call
(``todo~name~where``, ``;``-separated). The key is made by the grader for one run and known only to
it and the guard.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
from dataclasses import dataclass

from ..labs.assignment import Assignment
from ..labs.notebook import graded_id, parse_cell

__all__ = ["FIELDS", "GuardPlan", "guard_plan", "guard_config", "signed_bodies", "check_record",
           "partial_share"]

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


@dataclass(frozen=True)
class GuardPlan:
    """What the kernel's guard (:mod:`.guard`) watches and re-binds for one lab.

    ``modules``: the modules the graded cells import (snapshotted with the standard ones);
    ``names``: the names that the released lab binds by ``import`` and the graded cells use, with
    what they stand for: ``{"F": "torch.nn.functional", "check": "segedu.grading:check"}`` (a module
    for ``import m as F``; ``module:name`` for ``from module import name``, which is the module's
    attribute, as Python binds it, and a submodule only when there is no such attribute).
    """

    modules: tuple[str, ...]
    names: dict[str, str]


def guard_plan(assignment: Assignment) -> GuardPlan:
    """The :class:`GuardPlan` of a lab, from its released cells and its graded cells' sources."""
    graded = {graded_id(c) for c in assignment.lab.cells if graded_id(c)}
    sources = [c.source for c in assignment.lab.cells
               if graded_id(c) in graded]
    sources += [cell.source for cell, _ in assignment.hidden]
    used: set[str] = set()
    modules: set[str] = set()
    for source in sources:
        tree = parse_cell(source)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
    names: dict[str, str] = {}
    for cell in assignment.lab.cells:
        if (cell.cell_type != "code"
            or graded_id(cell) in graded):
            continue
        tree = parse_cell(cell.source)
        for node in tree.body if tree is not None else ():  # the cell's top-level imports
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    names[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    names = {name: dotted for name, dotted in names.items() if name in used}
    modules.update(dotted.partition(":")[0] for dotted in names.values())
    return GuardPlan(modules=tuple(sorted(modules)), names=names)


def check_record(records, gid: str, key: bytes) -> tuple[str, bool, list[str]]:
    """Read the guard's records of graded cell ``gid``: (state, passed, what was replaced).

    ``state`` is ``"ok"`` (a signed record of this cell), ``"missing"`` (none: the guard did not run
    the cell) or ``"forged"`` (a record whose signature is wrong was displayed by the cell, whatever
    else it displayed; ``passed`` and the replaced names still come from the signed record, if any).
    """
    found = None
    bodies, forged = signed_bodies(records, key)
    for body in bodies:
        if body["gid"] == gid:
            found = (body["passed"] == "1", [r for r in body["replaced"].split(";") if r])
    if found is None:
        return ("forged" if forged else "missing"), False, []
    return ("forged" if forged else "ok"), found[0], found[1]


def guard_config(plan: GuardPlan, key: bytes, cells: dict[str, str], answers: dict) -> dict:
    """The configuration of one run's guard (:func:`.sandbox.run_notebook` writes it beside the
    kernel): the key in hex, the graded cells' released sources by id, the plan's modules and
    names, and the TODOs' rules for the call recorder (:func:`.library_calls.answer_rules`)."""
    return {"key": key.hex(), "cells": cells, "modules": list(plan.modules), "names": plan.names,
            "answers": answers}


def partial_share(records, gid: str, key: bytes) -> float | None:
    """The share (0 to 1) of its points that a failed graded cell ``gid`` earned by its checks with
    points (:func:`segedu.grading.kernel.checks.finish_checks`), read from its signed record;
    ``None`` when the record gives no score (a cell of one check, or no signed record)."""
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
