"""``segedu-grade manual --out DIR``: the page where the instructor grades by hand: the written
answers, and any graded code cell over what its checks gave.

::

    segedu-grade manual --out grades/ [--names] [--port 8765]

serves, on ``http://127.0.0.1:<port>/`` only, one page with no outside resource (no CDN, works
offline; the page is ``static/manual_page.html``): for each written question, its text, rubric and
model answer, then every student's answer side by side, each with a points box (0 to the
question's points) and a comment. Then, for each graded code cell, the source of its checks and a
card per student who submitted: the student's code that the checks test, the points they gave and
what they said, and a points box (0 to the cell's worth) with a comment: points saved there
override the checks' (:func:`.manual_points.apply_overrides`: the gradebook's reason and the
student's feedback say "points set by hand", with the comment); an empty box saved gives the checks'
points back. *Save* stores either in ``OUT/manual/points.json`` (:mod:`.manual_points`, one atomic
write per save). The answers and the code come from ``OUT/manual/answers.json``, which the grader
writes.

The answers are anonymous by default: each gets a random key and the label "answer <n>" in a
random order, drawn anew for each question (and graded cell) and each start of the server; the
page never receives a student id, and its messages name an answer by its label ("question 'q',
answer 3: points must be at most 3"). ``--names`` shows the student ids instead, in their order.

For a day of grading: the question and the model answer are shown as Markdown (paragraphs,
lists, headings, code, bold, italic; built as text nodes, nothing from a file runs); Enter in a
points box saves (Ctrl+Enter in a comment); ``2,5`` is read as 2.5 and anything that is not a
number is refused with a line; a value typed and not saved is marked, and leaving or reloading the
page asks first; one button gives 0 to every empty answer that has no points yet. A save made
while the grader runs on the same folder is kept beside the points file and merged by that run
at its end (:mod:`.manual_points`).

Below the questions, the page lists the code answers that are the same once names and layout are
set aside (:mod:`.similarity`, ``OUT/similar_answers.csv``): per TODO, each group of identical
answers and its size, a place to look and not a sanction. Who wrote them is shown with ``--names``
only. A folder graded before the grader wrote ``answers.json`` for every lab shows this list
alone.

The gradebook and the feedback pages do not change when a point is saved: the next run of the
grader (the same command as before) merges the saved points into ``gradebook.csv`` (one column per
question; an override in its graded cell's column) and into ``feedback/<student_id>.html``;
re-running never loses a saved point. Restart the page after a run to see what it rewrote.

Safety: the server listens on the loopback address only, refuses requests whose ``Host`` is not
that address (a web page elsewhere cannot reach it through DNS rebinding), and accepts a save only
with the random token of the page it served (a page of another site cannot forge one).
"""

from __future__ import annotations

import argparse
import hmac
import http.server
import json
import random
import secrets
import sys
from pathlib import Path

from .manual_points import (
    ANSWERS,
    POINTS,
    ManualPointsError,
    fold_pending,
    grading_pid,
    read_answers,
    read_code,
    read_points,
    save_point,
)
from .similarity import FILE as SIMILAR
from .similarity import read_similar

__all__ = ["ManualGrading", "make_server", "main"]

MAX_BODY = 64_000  # bytes of one save request
PAGE_FILE = Path(__file__).with_name("static") / "manual_page.html"  # its script and style inline


class ManualGrading:
    """What the page shows and saves, for the output folder ``out``.

    The page grades *items*: the written questions and the graded code cells (an override of
    what the checks gave), each with ``.id`` and ``.points`` and one answer per student; a save
    is :func:`~.manual_points.save_point` for either.

    Args:
        out: the grader's output folder (with ``manual/answers.json``).
        names: show student ids (``False``: anonymous keys and labels).
    """

    def __init__(self, out: str | Path, *, names: bool = False):
        self.out = Path(out)
        self.names = names
        if (self.out / SIMILAR).is_file() and not (self.out / ANSWERS).is_file():
            self.questions, self.answers = [], {}  # a folder graded before answers.json was
            self.cells, self.code = [], {}
        else:
            self.questions, self.answers = read_answers(self.out)
            self.cells, self.code = read_code(self.out)
        self.by_id = {item.id: item for item in [*self.questions, *self.cells]}
        if len(self.by_id) < len(self.questions) + len(self.cells):
            raise ManualPointsError(f"{self.out / ANSWERS}: a written question and a graded cell "
                                    "share an id; run segedu-grade again to rewrite it")
        read_points(self.out, self.questions)  # a broken points file stops here, with its reason
        self.token = secrets.token_urlsafe(24)
        # (item id, key) -> student id; the page knows only the keys
        self.keys: dict[tuple[str, str], str] = {}
        self.order: dict[str, list[tuple[str, str]]] = {}  # item id -> [(key, label)]
        self.labels: dict[tuple[str, str], str] = {}  # (item id, key) -> what the page shows
        for item in self.by_id.values():
            students = sorted(self.answers if item in self.questions else self.code)
            shuffled = students if names else random.sample(students, len(students))
            pairs = []
            for number, student in enumerate(shuffled, start=1):
                key = secrets.token_urlsafe(9)
                self.keys[(item.id, key)] = student
                pairs.append((key, student if names else f"answer {number}"))
                self.labels[(item.id, key)] = pairs[-1][1]
            self.order[item.id] = pairs

    def data(self) -> dict:
        """The page's data: the written questions and the graded code cells, each with its
        answers and the points saved so far."""
        fold_pending(self.out)  # saves made during a grader's run, now that it has finished
        marks = read_points(self.out, self.questions)

        def answers(item, shown) -> list[dict]:
            found = []
            for key, label in self.order[item.id]:
                student = self.keys[(item.id, key)]
                mark = marks.get(item.id, {}).get(student)
                found.append({"key": key, "label": label, **shown(student),
                              "points": None if mark is None else mark.points,
                              "comment": "" if mark is None else mark.comment})
            return found

        questions = [{"id": q.id, "points": q.points, "prompt": q.prompt, "rubric": q.rubric,
                      "model_answer": q.model_answer,
                      "answers": answers(q, lambda s, q=q: {
                          "text": self.answers[s].get(q.id, "")})}
                     for q in self.questions]
        cells = []
        for cell in self.cells:
            def shown(student, cell=cell):
                answer = self.code[student].get(cell.id)
                return ({"code": "", "earned": 0.0, "message": "not graded"} if answer is None
                        else {"code": answer.code, "earned": answer.earned,
                              "message": answer.message})
            cells.append({"id": cell.id, "points": cell.points, "checks": cell.checks,
                          "answers": answers(cell, shown)})
        return {"questions": questions, "cells": cells, "names": self.names,
                "points_file": str(self.out / POINTS), "similar": self._similar(),
                "grading": grading_pid(self.out) is not None}

    def _similar(self) -> list[dict]:
        """Groups of identical code answers: TODO, size, fingerprint, whether it is the
        solution's, and (with ``names`` only) the student ids."""
        groups: dict[tuple[str, str], dict] = {}
        for pair in read_similar(self.out):
            group = groups.setdefault((pair.todo, pair.fingerprint), {
                "todo": pair.todo, "size": pair.group, "fingerprint": pair.fingerprint,
                "same_as_solution": pair.same_as_solution, "students": set()})
            group["students"].update((pair.first, pair.second))
        return [dict(g, students=sorted(g["students"]) if self.names else [])
                for g in groups.values()]

    def save(self, request: dict) -> dict:
        """Save ``{"question" (an item id: written question or graded cell), "key", "points" (a
        number or null: no points, or the checks' points again), "comment"}``; the saved mark."""
        if not isinstance(request, dict):
            raise ManualPointsError("the request is not a JSON object")
        question = self.by_id.get(request.get("question"))
        student = self.keys.get((request.get("question"), request.get("key")))
        if question is None or student is None:
            raise ManualPointsError("no such question, graded cell or answer (reload the page)")
        points = request.get("points")
        comment = request.get("comment", "")
        # the messages name the answer as the page shows it: never a student id when anonymous
        save_point(self.out, question, student, points, comment,
                   who=self.labels[(question.id, request.get("key"))])
        return {"points": points, "comment": comment if points is not None else "",
                "pending": grading_pid(self.out) is not None}


def make_server(grading: ManualGrading, *, port: int = 8765) -> http.server.HTTPServer:
    """An HTTP server on 127.0.0.1 (``port=0``: any free port) serving ``grading``."""
    page = PAGE_FILE.read_text(encoding="utf8").replace("__TOKEN__", grading.token)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet: the terminal shows only the address
            pass

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; "
                             "style-src 'unsafe-inline'; connect-src 'self'")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value) -> None:
            self._send(status, json.dumps(value).encode("utf8"), "application/json")

        def _local(self) -> bool:
            host = (self.headers.get("Host") or "").rpartition(":")[0]
            if host not in ("127.0.0.1", "localhost"):
                self._json(403, {"error": "only http://127.0.0.1 may use this page"})
                return False
            return True

        def do_GET(self):
            if not self._local():
                return
            path = self.path.split("?")[0]
            if path == "/":
                self._send(200, page.encode("utf8"), "text/html; charset=utf-8")
            elif path == "/data.json":
                try:
                    self._json(200, grading.data())
                except ManualPointsError as error:
                    self._json(500, {"error": str(error)})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self):
            if not self._local():
                return
            if self.path != "/save" or not hmac.compare_digest(
                    self.headers.get("X-Segedu-Token", ""), grading.token):
                self._json(403, {"error": "refused (reload the page)"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(413, {"error": "request too large"})
                return
            try:
                request = json.loads(self.rfile.read(length).decode("utf8"))
                self._json(200, grading.save(request))
            except (ValueError, UnicodeDecodeError) as error:  # ManualPointsError is one
                self._json(400, {"error": str(error)})

    return http.server.HTTPServer(("127.0.0.1", port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segedu-grade manual",
        description="Grade the written answers, and override graded code cells, by hand: "
                    "serve the manual-grading page on "
                    "http://127.0.0.1 (offline). Points are saved to OUT/manual/points.json; the "
                    "next run of the grader puts them into gradebook.csv and the feedback pages.")
    parser.add_argument("--out", required=True, help="the grader's output folder")
    parser.add_argument("--names", action="store_true",
                        help="show the student ids (default: anonymous answers)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port on 127.0.0.1 (default 8765; 0: any free port)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        grading = ManualGrading(args.out, names=args.names)
        server = make_server(grading, port=args.port)
    except ManualPointsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr)
        return 2
    print(f"manual grading of {len(grading.questions)} question(s) and {len(grading.cells)} "
          f"graded cell(s), {len(grading.code) or len(grading.answers)} "
          f"submission(s): http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
