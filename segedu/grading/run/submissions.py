"""Which notebook is whose: a submissions folder read as an LMS's bulk download, and a roster.

:func:`find_submissions` recognises, in one folder (unzipped):

- **plain**: ``<id>.ipynb``, or a folder ``<id>/`` that holds the notebook (a folder without
  any notebook, such as an output folder kept beside the submissions, is not a submission);
- **Canvas** ("Download Submissions"): one file per uploaded file, named
  ``<name>_[LATE_]<user id>_<attachment id>_<file name>`` (``lovelaceada_48213_9911_lab.ipynb``;
  ``anon_<id>`` instead of the user id when the assignment anonymises students). The name is the
  student's sortable name, lower case, without spaces or punctuation. Canvas builds these names
  in ``ContentZipper#get_filename`` and ``#add_upload_submission`` (``lib/content_zipper.rb``,
  instructure/canvas-lms);
- **Moodle** (assignment, "Download all submissions"): a folder per student,
  ``<Full Name>_<participant id>_assignsubmission_file_/`` holding the files, or, with "download
  as folders" off, files named ``<Full Name>_<participant id>_assignsubmission_file_<file name>``
  (other submission plugins, such as ``onlinetext``, write their own folder or prefix, whose
  files join the participant's); the number is the participant id of
  ``assign::get_uniqueid_for_user`` (``mod/assign/locallib.php``, ``download_submissions``);
  blind marking writes ``Participant`` as the name;
- **Gradescope** ("Export Submissions"): ``submission_metadata.yml`` beside one folder per
  submission, ``submission_<number>/``; the metadata maps each folder to its ``:submitters:``
  (``:name:``, ``:sid:``, ``:email:``), several for a group submission. Gradescope documents the
  same people for its autograder (``users``: name, email, in ``submission_metadata.json``,
  gradescope-autograders.readthedocs.io) but not the export's YAML: this layout is the one its
  exports hold and public scripts read (``record[':submitters'][0][':sid']``); Ruby tags in it
  (``!ruby/object:BigDecimal``) are read as plain values.

Non-notebook files are not graded (a submission without a notebook says which files it had).
**Of several notebooks of one student, the newest is graded** (among those named like the released
lab, ``lab.ipynb`` or Canvas' renamed ``lab-1.ipynb``, if any), and the row lists the others: on
Canvas, all files of a user id are one submission, and the newest is the one with the highest
attachment id (Canvas numbers attachments as they are uploaded; a second download unzipped over
the first leaves the older files beside the new ones, ``LATE_`` or not); on Moodle, the newest by
modification time (Moodle's zip gives each file its ``timemodified``, which unzip restores); on
Gradescope, of two submission folders of one student, the newer ``:created_at:``; plain files by
modification time. **nbgrader** (:mod:`.nbgrader_layout`): ``submitted/<student>/<assignment>/``
is a plain folder per student; a ``timestamp.txt`` beside a notebook (or in a folder above it,
within the student's) says when it was submitted, and outranks the modification time; the
exchange's ``inbound/<student>+<assignment>+<timestamp>/`` folders of one student are one
submission of several attempts, the newest by ``timestamp.txt`` (else the folder's timestamp)
graded.

:func:`match_submissions` gives each submission its student: plain by ``id``; Canvas by
``canvas_id``; Moodle by ``moodle_id``, else by the full name when exactly one student has it;
Gradescope by ``email``, else ``sid`` = ``id``. With a roster, **every student gets an entry**: one
without a submission gets ``path=None`` (the grader's status ``missing``, 0 points), and **every
submission gets an entry**: one that matches nobody keeps an id made from its LMS id
(``canvas-48213``, ``moodle-7301``, ``gradescope-123``, or the plain file's stem) and a flag that
says no student in the roster matches it. Of two submissions of the same student, the newer is
graded and the older is named in the row's reason. Without a roster, each submission's id is its
plain id or the one made from its LMS id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..labs.nbgrader_layout import attempt_time, inbound_attempt
from ..results.roster import SAFE_ID, Roster, Student

__all__ = ["Found", "Entry", "SubmissionsError", "find_submissions", "match_submissions",
           "collect_submissions"]

CANVAS = re.compile(r"(?P<name>[^_]*)_(?P<late>LATE_)?(?P<user>\d+)_(?P<attachment>\d+)_"
                    r"(?P<file>.+)")
CANVAS_ANONYMOUS = re.compile(r"(?P<late>LATE_)?anon_(?P<user>[A-Za-z0-9]+)_(?P<attachment>\d+)_"
                              r"(?P<file>.+)")
MOODLE_FOLDER = re.compile(r"(?P<name>.+)_(?P<participant>\d+)_assignsubmission_[a-z]+_")
MOODLE_FILE = re.compile(r"(?P<name>.+)_(?P<participant>\d+)_assignsubmission_[a-z]+_(?P<file>.+)")
GRADESCOPE_METADATA = "submission_metadata.yml"
SKIPPED = {"__MACOSX"}  # folders that zip tools add


class SubmissionsError(ValueError):
    """A submissions folder that cannot be read (e.g. a Gradescope metadata file that is not
    YAML)."""


@dataclass(frozen=True, kw_only=True)
class Found:
    """One submission as its file or folder names describe it.

    ``lms`` is ``plain``, ``canvas``, ``moodle`` or ``gradescope``; ``key`` the identifier the
    LMS wrote (plain: the file's stem or folder name; Canvas: the user id, ``anon_...`` when
    anonymous; Moodle: the participant id; Gradescope: the submission folder); ``name`` the name
    it wrote (Canvas: the sortable name in lower case; Moodle: the full name); ``submitters``
    Gradescope's ``(name, sid, email)`` of each; ``path`` the notebook graded (``None``: no
    notebook among the files); ``others`` the files not graded.
    """

    lms: str
    key: str
    path: Path | None
    name: str = ""
    late: bool = False
    submitters: tuple[tuple[str, str, str], ...] = ()
    others: tuple[Path, ...] = ()
    when: float = 0.0  # how new: Canvas' attachment id, Gradescope's created_at, else mtime
    older: tuple[Path, ...] = ()  # notebooks of the same student not graded: older than ``path``


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One gradebook row to be: the student's id, the notebook to grade (``None``: missing),
    the flags that matching raised, and the roster's student (``None``: not in the roster)."""

    student_id: str
    path: Path | None
    flags: tuple[str, ...] = ()
    student: Student | None = None


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in SKIPPED


def _files(folder: Path) -> list[Path]:
    """Every visible file under ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and all(_visible(part) for part in p.relative_to(folder).parents
                          if part != Path(".")) and _visible(p))


def _like(name: str, lab: str | None) -> bool:
    """``name`` is the released lab's file name, or Canvas' rename of it (``lab-1.ipynb``)."""
    if not lab:
        return False
    stem, suffix = lab.rsplit(".", 1) if "." in lab else (lab, "")
    return name == lab or re.fullmatch(re.escape(stem) + r"-\d+\." + re.escape(suffix),
                                       name) is not None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _pick(files: list[tuple[Path, str, float]],
          prefer: str | None) -> tuple[Path | None, tuple[Path, ...], float, tuple[Path, ...]]:
    """Among ``(path, file name as submitted, how new)``: the notebook to grade (the newest of
    those named like the lab, else of all; ties: the exact lab name, then the first by name), the
    other files, how new the graded one is, and the other notebooks."""
    notebooks = sorted((f for f in files if f[1].lower().endswith(".ipynb")),
                       key=lambda f: (f[1], str(f[0])))
    pool = [f for f in notebooks if _like(f[1], prefer)] or notebooks
    if not pool:
        return None, tuple(p for p, _, _ in files), 0.0, ()
    chosen = max(pool, key=lambda f: (f[2], f[1] == prefer))
    return (chosen[0], tuple(p for p, _, _ in files if p != chosen[0]), chosen[2],
            tuple(p for p, _, _ in notebooks if p != chosen[0]))


def _gradescope(folder: Path) -> dict[str, tuple[tuple[tuple[str, str, str], ...], float | None]]:
    """Gradescope's metadata: submission folder -> (((name, sid, email), ...), created_at)."""

    class Loader(yaml.SafeLoader):
        """Safe YAML that reads Ruby's tags (``!ruby/object:BigDecimal``) as plain values."""

    def plain(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", plain)
    path = folder / GRADESCOPE_METADATA
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 (safe)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SubmissionsError(f"{path}: not readable YAML ({error})") from None
    if not isinstance(data, dict):
        raise SubmissionsError(f"{path}: expected a mapping of submission folders")
    found = {}
    for key, record in data.items():
        record = {str(k).lstrip(":"): v for k, v in (record or {}).items()}
        submitters = []
        for person in record.get("submitters") or []:
            person = {str(k).lstrip(":"): v for k, v in (person or {}).items()}
            submitters.append(tuple(str(person.get(f) or "").strip()
                                    for f in ("name", "sid", "email")))
        found[str(key).lstrip(":")] = (tuple(submitters), _timestamp(record.get("created_at")))
    return found


def _timestamp(value) -> float | None:
    """Seconds since the epoch of Gradescope's ``created_at`` (``2026-11-20 10:00:00.000 -08:00``,
    or a datetime that YAML read), or ``None``."""
    import datetime

    if isinstance(value, datetime.datetime):
        return value.timestamp()
    text = re.sub(r"(\.\d{6})\d*", r"\1", str(value or "").strip())
    for layout in ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S.%f%z",
                   "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.datetime.strptime(text, layout).timestamp()
        except ValueError:
            continue
    return None


def find_submissions(folder: str | Path, *, prefer: str | None = None) -> list[Found]:
    """The submissions in ``folder`` (see the module's docstring), sorted by where they lie.

    ``prefer``: the released lab's file name; among several notebooks of one submission, the
    newest of those so named (or Canvas' ``lab-1.ipynb``) is graded, else the newest.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionsError(f"{folder}: no such folder")
    metadata = _gradescope(folder) if (folder / GRADESCOPE_METADATA).is_file() else {}
    canvas: dict[str, list[tuple[Path, str, float, str, bool]]] = {}
    moodle: dict[tuple[str, str], list[tuple[Path, str, float]]] = {}
    found: list[Found] = []
    inbound: dict[str, list[tuple[Path, str, float]]] = {}  # nbgrader's exchange, by student
    for item in sorted(p for p in folder.iterdir() if _visible(p)):
        if item.is_dir():
            # nbgrader's timestamp.txt says when an attempt was submitted (.nbgrader_layout)
            files = [(p, p.name, attempt_time(p, item) or _mtime(p)) for p in _files(item)]
            folder_match = MOODLE_FOLDER.fullmatch(item.name)
            attempt = None if metadata else inbound_attempt(item.name)
            if attempt is not None:  # <student>+<assignment>+<timestamp>: one attempt
                inbound.setdefault(attempt.student, []).extend(
                    (p, n, when if attempt_time(p, item) is not None else attempt.when)
                    for p, n, when in files)
            elif item.name in metadata or (metadata and item.name.startswith("submission_")):
                path, others, when, older = _pick(files, prefer)
                submitters, created = metadata.get(item.name, ((), None))
                found.append(Found(lms="gradescope", key=item.name, path=path, others=others,
                                   submitters=submitters, older=older,
                                   when=created if created is not None else when))
            elif folder_match:
                moodle.setdefault((folder_match["participant"], folder_match["name"]),
                                  []).extend(files)
            elif any(n.lower().endswith(".ipynb") for _, n, _ in files):  # <id>/, its notebook
                path, others, when, older = _pick(files, prefer)
                found.append(Found(lms="plain", key=item.name, path=path, others=others,
                                   when=when, older=older))
            continue
        if item.name == GRADESCOPE_METADATA:
            continue
        anonymous = CANVAS_ANONYMOUS.fullmatch(item.name)
        named = CANVAS.fullmatch(item.name)
        moodle_file = MOODLE_FILE.fullmatch(item.name)
        if moodle_file:
            moodle.setdefault((moodle_file["participant"], moodle_file["name"]), []).append(
                (item, moodle_file["file"], _mtime(item)))
        elif anonymous or named:
            match = anonymous or named
            user = f"anon_{match['user']}" if anonymous else match["user"]
            name = "" if anonymous else match["name"]
            # every file of one user is one submission: a second download unzipped over the
            # first leaves older attachments (late or not) beside the newer
            canvas.setdefault(user, []).append((item, match["file"], float(match["attachment"]),
                                                name, bool(match["late"])))
        elif item.suffix.lower() == ".ipynb":
            found.append(Found(lms="plain", key=item.stem, path=item, when=_mtime(item)))
    for user, files in canvas.items():
        path, others, when, older = _pick([f[:3] for f in files], prefer)
        chosen = next((f for f in files if f[0] == path), files[-1])
        found.append(Found(lms="canvas", key=user, name=chosen[3], late=chosen[4], path=path,
                           others=others, when=when, older=older))
    for student, files in inbound.items():
        path, others, when, older = _pick(files, prefer)
        found.append(Found(lms="plain", key=student, path=path, others=others, when=when,
                           older=older))
    for (participant, name), files in moodle.items():
        path, others, when, older = _pick(files, prefer)
        found.append(Found(lms="moodle", key=participant, name=name, path=path, others=others,
                           when=when, older=older))
    return sorted(found, key=lambda f: (str(f.path or ""), f.lms, f.key))


def _lms_id(found: Found) -> str:
    """The id of a submission that no roster student matches, made from its LMS id."""
    if found.lms == "plain":
        raw = found.key
    elif found.lms == "gradescope":
        raw = "gradescope-" + found.key.removeprefix("submission_")
    else:
        raw = f"{found.lms}-{found.key}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", raw).lstrip(".") or "submission"
    return safe[:100] if SAFE_ID.fullmatch(safe[:100]) else "submission"


def _describe(found: Found) -> str:
    """How a submission is named, for the flags: ``canvas user 48213 (lovelaceada)``."""
    if found.lms == "plain":
        return f"file {found.path.name if found.path else found.key}"
    if found.lms == "canvas":
        return f"Canvas user {found.key}" + (f" ({found.name})" if found.name else "")
    if found.lms == "moodle":
        return f"Moodle participant {found.key} ({found.name})"
    people = ", ".join(email or sid or name for name, sid, email in found.submitters)
    return f"Gradescope {found.key}" + (f" ({people})" if people else "")


def _students(found: Found, roster: Roster) -> tuple[list[Student], list[str]]:
    """The roster's students that a submission belongs to, and how they were matched."""
    if found.lms == "plain":
        student = roster.by_id(found.key)
        return ([student], []) if student else ([], [])
    if found.lms == "canvas":
        student = roster.by_canvas_id(found.key)
        if student is None and found.path is not None:
            student = roster.by_id(found.path.stem)  # a plain id that looks like Canvas' name
        return ([student], []) if student else ([], [])
    if found.lms == "moodle":
        student = roster.by_moodle_id(found.key)
        if student is not None:
            return [student], []
        student = roster.by_name(found.name)
        if student is not None:
            return [student], [f"matched by name: Moodle participant {found.key} is not a "
                               "moodle_id of the roster"]
        return [], []
    students = []
    for _name, sid, email in found.submitters:
        student = roster.by_email(email) or (roster.by_id(sid) if sid else None)
        if student is not None and student not in students:
            students.append(student)
    return students, []


def match_submissions(found: list[Found], roster: Roster | None) -> list[Entry]:
    """One :class:`Entry` per submission and (with a roster) per student without one.

    Entries of roster students come in roster order, then those that match nobody.
    """
    by_student: dict[str, list[Entry]] = {}
    found_of: dict[tuple[str, int], Found] = {}
    unmatched: list[Entry] = []
    used: set[str] = {s.id for s in roster.students} if roster else set()
    for item in found:
        flags = []
        if item.late:
            flags.append("submitted late (Canvas)")
        if item.path is None:
            names = ", ".join(p.name for p in item.others[:5])
            flags.append(f"no notebook among the submitted files ({names})")
        elif item.older:
            flags.append(f"several notebooks: graded the newest, {item.path.name}; not graded: "
                         + ", ".join(p.name for p in item.older))
        students, how = _students(item, roster) if roster else ([], [])
        if roster is not None and not students:
            flags.append(f"no student in the roster matches this submission ({_describe(item)})")
        if not students:
            student_id = _lms_id(item)
            while student_id in used:
                student_id += "_"
            used.add(student_id)
            entry = Entry(student_id=student_id, path=item.path, flags=tuple(flags))
            (unmatched if roster else by_student.setdefault(student_id, [])).append(entry)
            continue
        for student in students:
            by_student.setdefault(student.id, []).append(
                Entry(student_id=student.id, path=item.path, flags=tuple(flags + how),
                      student=student))
            found_of[(student.id, len(by_student[student.id]) - 1)] = item
    # of several submissions of one student, the newest is graded; the row names the others
    for student_id, entries in by_student.items():
        if len(entries) < 2 or entries[0].student is None:
            continue
        items = [found_of[(student_id, n)] for n in range(len(entries))]
        same = len({i.lms for i in items}) == 1
        newest = max(range(len(entries)), key=lambda n: (
            items[n].when if same else _mtime(items[n].path) if items[n].path else 0.0,
            items[n].path is not None))
        older = [_describe(items[n]) for n in range(len(entries)) if n != newest]
        keep = entries[newest]
        by_student[student_id] = [Entry(
            student_id=student_id, path=keep.path, student=keep.student,
            flags=keep.flags + (f"older submission(s) not graded: {'; '.join(older)}",))]
    if roster is None:
        return [e for entries in by_student.values() for e in entries]
    result = []
    for student in roster.students:
        result += by_student.get(student.id) or [
            Entry(student_id=student.id, path=None, flags=("no submission",), student=student)]
    return result + unmatched


def collect_submissions(folder: str | Path, roster: Roster | None = None, *,
                        prefer: str | None = None) -> list[Entry]:
    """:func:`find_submissions` then :func:`match_submissions`."""
    return match_submissions(find_submissions(folder, prefer=prefer), roster)
