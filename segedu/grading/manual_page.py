"""``segedu-grade manual --out DIR``: the page where the instructor grades the written answers.

::

    segedu-grade manual --out grades/ [--names] [--port 8765]

serves, on ``http://127.0.0.1:<port>/`` only, one page with no outside resource (no CDN, works
offline): for each written question, its text, rubric and model answer, then every student's
answer side by side, each with a points box (0 to the question's points) and a comment. *Save*
stores them in ``OUT/manual/points.json`` (:mod:`.manual`, one atomic write per save). The answers
come from ``OUT/manual/answers.json``, which the grader writes.

The answers are anonymous by default: each gets a random key and the label "answer <n>" in a
random order, drawn anew for each question and each start of the server; the page never receives a
student id, and its messages name an answer by its label ("question 'q', answer 3: points must be
at most 3"). ``--names`` shows the student ids instead, in their order.

For a day of grading: the question and the model answer are shown as Markdown (paragraphs,
lists, headings, code, bold, italic; built as text nodes, nothing from a file runs); Enter in a
points box saves (Ctrl+Enter in a comment); ``2,5`` is read as 2.5 and anything that is not a
number is refused with a line; a value typed and not saved is marked, and leaving or reloading the
page asks first; one button gives 0 to every empty answer that has no points yet. A save made
while the grader runs on the same folder is kept beside the points file and merged by that run
at its end (:mod:`.manual`).

Below the questions, the page lists the code answers that are the same once names and layout are
set aside (:mod:`.similarity`, ``OUT/similar_answers.csv``): per TODO, each group of identical
answers and its size, a place to look and not a sanction. Who wrote them is shown with ``--names``
only. A lab without written questions shows this list alone.

The gradebook and the feedback pages do not change when a point is saved: the next run of the
grader (the same command as before) merges the saved points into ``gradebook.csv`` (one column per
question) and into ``feedback/<student_id>.html``; re-running never loses a saved point.

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

from .manual import (
    ANSWERS,
    POINTS,
    ManualPointsError,
    fold_pending,
    grading_pid,
    read_answers,
    read_points,
    save_point,
)
from .similarity import FILE as SIMILAR
from .similarity import read_similar

__all__ = ["ManualGrading", "make_server", "main"]

MAX_BODY = 64_000  # bytes of one save request


class ManualGrading:
    """What the page shows and saves, for the output folder ``out``.

    Args:
        out: the grader's output folder (with ``manual/answers.json``).
        names: show student ids (``False``: anonymous keys and labels).
    """

    def __init__(self, out: str | Path, *, names: bool = False):
        self.out = Path(out)
        self.names = names
        if (self.out / SIMILAR).is_file() and not (self.out / ANSWERS).is_file():
            self.questions, self.answers = [], {}  # a lab without written questions
        else:
            self.questions, self.answers = read_answers(self.out)
        by_id = {q.id: q for q in self.questions}
        read_points(self.out, self.questions)  # a broken points file stops here, with its reason
        self.token = secrets.token_urlsafe(24)
        # (question id, key) -> student id; the page knows only the keys
        self.keys: dict[tuple[str, str], str] = {}
        self.order: dict[str, list[tuple[str, str]]] = {}  # question id -> [(key, label)]
        self.labels: dict[tuple[str, str], str] = {}  # (question id, key) -> what the page shows
        students = sorted(self.answers)
        for question in by_id:
            shuffled = students if names else random.sample(students, len(students))
            pairs = []
            for number, student in enumerate(shuffled, start=1):
                key = secrets.token_urlsafe(9)
                self.keys[(question, key)] = student
                pairs.append((key, student if names else f"answer {number}"))
                self.labels[(question, key)] = pairs[-1][1]
            self.order[question] = pairs
        self.by_id = by_id

    def data(self) -> dict:
        """The page's data: the questions, each with its answers and the points saved so far."""
        fold_pending(self.out)  # saves made during a grader's run, now that it has finished
        marks = read_points(self.out, self.questions)
        questions = []
        for question in self.questions:
            answers = []
            for key, label in self.order[question.id]:
                student = self.keys[(question.id, key)]
                mark = marks.get(question.id, {}).get(student)
                answers.append({"key": key, "label": label,
                                "text": self.answers[student].get(question.id, ""),
                                "points": None if mark is None else mark.points,
                                "comment": "" if mark is None else mark.comment})
            questions.append({"id": question.id, "points": question.points,
                              "prompt": question.prompt, "rubric": question.rubric,
                              "model_answer": question.model_answer, "answers": answers})
        return {"questions": questions, "names": self.names,
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
        """Save ``{"question", "key", "points" (a number or null), "comment"}``; the saved mark."""
        if not isinstance(request, dict):
            raise ManualPointsError("the request is not a JSON object")
        question = self.by_id.get(request.get("question"))
        student = self.keys.get((request.get("question"), request.get("key")))
        if question is None or student is None:
            raise ManualPointsError("no such question or answer (reload the page)")
        points = request.get("points")
        comment = request.get("comment", "")
        # the messages name the answer as the page shows it: never a student id when anonymous
        save_point(self.out, question, student, points, comment,
                   who=self.labels[(question.id, request.get("key"))])
        return {"points": points, "comment": comment if points is not None else "",
                "pending": grading_pid(self.out) is not None}


def make_server(grading: ManualGrading, *, port: int = 8765) -> http.server.HTTPServer:
    """An HTTP server on 127.0.0.1 (``port=0``: any free port) serving ``grading``."""
    page = PAGE.replace("__TOKEN__", grading.token)

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
        description="Grade the written answers by hand: serve the manual-grading page on "
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
    print(f"manual grading of {len(grading.questions)} question(s), {len(grading.answers)} "
          f"submission(s): http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="segedu-token" content="__TOKEN__">
<title>Written answers: manual grading</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;line-height:1.4}
.note{background:#eef3fb;padding:.5rem .8rem;border-radius:.4rem}
section.question{border-top:2px solid #99a;margin-top:2rem;padding-top:.5rem}
.prompt,.answer-text,.rubric,.model{white-space:pre-wrap}
.answers{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:.8rem}
.card{border:1px solid #ccd;border-radius:.4rem;padding:.6rem;display:flex;flex-direction:column}
.card.graded{border-color:#2a7d3f;background:#f3faf4}.answer-text{flex:1;background:#f6f6f6;
padding:.4rem;border-radius:.3rem;margin:.3rem 0}.empty{color:#777;font-style:italic}
textarea{width:100%;min-height:3rem}.status{margin-left:.5rem}.error{color:#b3261e}
.card.dirty{border-color:#b07d00;background:#fffaf0}.unsaved{color:#8a5a00}
.zero-empty{margin:.4rem 0}
</style></head><body>
<h1>Written answers</h1>
<p class="note" id="note">Loading…</p>
<div id="questions"></div>
<section id="similar"></section>
<script>
"use strict";
const token = document.querySelector('meta[name="segedu-token"]').content;
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
function progress(section) {
  const cards = section.querySelectorAll(".card");
  const done = section.querySelectorAll(".card.graded").length;
  section.querySelector(".progress").textContent = done + " of " + cards.length + " graded";
}
async function save(question, answer, card, section) {
  const status = card.querySelector(".status");
  const box = card.querySelector("input"), comment = card.querySelector("textarea");
  status.className = "status";
  const points = parsePoints(box.value);
  if (Number.isNaN(points)) {
    status.className = "status error";
    status.textContent = "not saved: write the points as a number, e.g. 2.5 or 2,5";
    return;
  }
  status.textContent = "saving…";
  try {
    const reply = await fetch("save", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Segedu-Token": token},
      body: JSON.stringify({question: question.id, key: answer.key, points: points,
                            comment: comment.value})});
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.error || reply.statusText);
    card.classList.toggle("graded", body.points !== null);
    card.classList.remove("dirty");
    status.textContent = (body.points === null ? "cleared" : "saved") + (body.pending ?
      " (a grading run is going: it merges this at its end)" : "");
  } catch (error) {
    status.className = "status error";
    status.textContent = "not saved: " + error.message;
  }
  progress(section);
}
// "2.5", "2,5" (a decimal comma), " 3 " -> a number; "" -> null (no points); else NaN
function parsePoints(text) {
  const value = text.trim();
  if (value === "") return null;
  if (!/^[0-9]+([.,][0-9]+)?$/.test(value)) return NaN;
  return Number(value.replace(",", "."));
}
// a small, safe Markdown: paragraphs, headings, lists, code blocks; **bold**, *italic*, `code`
function inline(parent, text) {
  const pattern = /(\*\*[^*]+\*\*|\*[^*\s][^*]*\*|`[^`]+`)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parent.append(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("**")) parent.append(el("strong", "", token.slice(2, -2)));
    else if (token.startsWith("`")) parent.append(el("code", "", token.slice(1, -1)));
    else parent.append(el("em", "", token.slice(1, -1)));
    last = match.index + token.length;
  }
  parent.append(text.slice(last));
}
function markdown(text) {
  const root = el("div", "markdown");
  const fences = text.split(/^```[^\n]*$/m);
  fences.forEach((part, index) => {
    if (index % 2 === 1) { root.append(el("pre", "", part.replace(/^\n|\n$/g, ""))); return; }
    for (const block of part.split(/\n\s*\n/)) {
      const lines = block.split("\n").filter(line => line.trim() !== "");
      if (lines.length === 0) continue;
      if (lines.every(line => /^\s*([-*]|[0-9]+\.)\s+/.test(line))) {
        const list = el(/^\s*[0-9]/.test(lines[0]) ? "ol" : "ul");
        for (const line of lines) {
          const item = el("li");
          inline(item, line.replace(/^\s*([-*]|[0-9]+\.)\s+/, ""));
          list.append(item);
        }
        root.append(list);
      } else if (/^#{1,6}\s/.test(lines[0]) && lines.length === 1) {
        const heading = el("h4");
        inline(heading, lines[0].replace(/^#+\s*/, ""));
        root.append(heading);
      } else {
        const paragraph = el("p");
        inline(paragraph, lines.join(" "));
        root.append(paragraph);
      }
    }
  });
  return root;
}
function dirty() { return document.querySelectorAll(".card.dirty").length; }
window.addEventListener("beforeunload", event => {
  if (dirty() === 0) return undefined;
  const message = dirty() + " value(s) typed and not saved";
  event.preventDefault();
  event.returnValue = message;  // older browsers ask only with a non-empty text
  return message;
});
function render(data) {
  document.getElementById("note").textContent =
    "Points are saved to " + data.points_file + " when you press Save. The gradebook and the " +
    "feedback pages get them on the next run of segedu-grade (the same command as before)." +
    (data.names ? "" : " Answers are anonymous (--names shows who wrote them).") +
    " Enter in a points box saves; a value typed and not saved is marked, and leaving the " +
    "page asks first." + (data.grading ? " A grading run is going: what you save now is kept " +
    "beside the points file and merged at the end of the run." : "");
  const root = document.getElementById("questions");
  for (const question of data.questions) {
    const section = el("section", "question");
    section.dataset.question = question.id;
    section.append(el("h2", "", question.id + " (" + question.points + " points)"));
    section.append(el("p", "progress"));
    const prompt = markdown(question.prompt);
    prompt.classList.add("prompt");
    section.append(prompt);
    const empty = question.answers.filter(a => !a.text.trim() && a.points === null).length;
    if (empty > 0) {
      const zero = el("button", "zero-empty", "0 points to the " + empty +
                      " empty answer" + (empty > 1 ? "s" : ""));
      zero.addEventListener("click", async () => {
        for (const card of section.querySelectorAll(".card.no-answer")) {
          const box = card.querySelector("input");
          if (box.value.trim() === "") { box.value = "0"; await card.saveNow(); }
        }
        zero.disabled = true;
      });
      section.append(zero);
    }
    const rubric = el("details");
    rubric.open = true;
    rubric.append(el("summary", "", "Rubric"), el("div", "rubric", question.rubric || "(none)"));
    const model = el("details");
    model.append(el("summary", "", "Model answer"), markdown(question.model_answer));
    section.append(rubric, model);
    const grid = el("div", "answers");
    for (const answer of question.answers) {
      const card = el("div", "card" + (answer.points === null ? "" : " graded") +
                      (answer.text.trim() ? "" : " no-answer"));
      card.dataset.label = answer.label;
      card.append(el("h3", "", answer.label));
      card.append(el("div", "answer-text" + (answer.text ? "" : " empty"),
                     answer.text || "(no answer)"));
      const label = el("label", "", "Points (0 to " + question.points + "): ");
      const box = el("input");
      box.type = "text"; box.inputMode = "decimal"; box.size = 5;
      box.value = answer.points === null ? "" : String(answer.points);
      label.append(box);
      const comment = el("textarea");
      comment.placeholder = "comment for the student";
      comment.value = answer.comment;
      const button = el("button", "", "Save");
      card.saveNow = () => save(question, answer, card, section);
      button.addEventListener("click", card.saveNow);
      box.addEventListener("keydown", event => {
        if (event.key === "Enter") { event.preventDefault(); card.saveNow(); }
      });
      comment.addEventListener("keydown", event => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault(); card.saveNow();
        }
      });
      for (const field of [box, comment]) {
        field.addEventListener("input", () => {
          card.classList.add("dirty");
          const status = card.querySelector(".status");
          status.className = "status unsaved";
          status.textContent = "not saved yet (Enter or Save)";
        });
      }
      const row = el("div");
      row.append(button, el("span", "status"));
      card.append(label, comment, row);
      grid.append(card);
    }
    section.append(grid);
    root.append(section);
    progress(section);
  }
  const similar = document.getElementById("similar");
  similar.append(el("h2", "", "Similar code answers"));
  similar.append(el("p", "", data.similar.length === 0 ? "No two submissions answered a TODO " +
    "alike (or the grader has not written similar_answers.csv)." : "Answers that are the same " +
    "once names and layout are set aside: a place to look, not a sanction." +
    (data.names ? "" : " Who wrote them: segedu-grade manual --names, or similar_answers.csv.")));
  const list = el("ul");
  for (const group of data.similar) {
    list.append(el("li", "group", "TODO " + group.todo + ": " + group.size +
      " identical answers (" + group.fingerprint + ")" +
      (group.same_as_solution ? ", the same as the solution's" : "") +
      (group.students.length ? ": " + group.students.join(", ") : "")));
  }
  similar.append(list);
}
fetch("data.json").then(async reply => {
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error);
  render(body);
}).catch(error => {
  const note = document.getElementById("note");
  note.className = "note error";
  note.textContent = "Cannot load the answers: " + error.message;
});
</script></body></html>
"""
