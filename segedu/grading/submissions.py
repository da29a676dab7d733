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

Non-notebook files are not graded (a submission without a notebook says which files it had); a
submission with several notebooks has the one named like the released lab graded (else the first
by name), and says so.

:func:`match_submissions` gives each submission its student: plain by ``id``; Canvas by
``canvas_id``; Moodle by ``moodle_id``, else by the full name when exactly one student has it;
Gradescope by ``email``, else ``sid`` = ``id``. With a roster, **every student gets an entry**: one
without a submission gets ``path=None`` (the grader's status ``missing``, 0 points), and **every
submission gets an entry**: one that matches nobody keeps an id made from its LMS id
(``canvas-48213``, ``moodle-7301``, ``gradescope-123``, or the plain file's stem) and a flag that
says no student in the roster matches it. A second submission for the same student is kept too,
under ``<id>.2`` with a flag. Without a roster, each submission's id is its plain id or the one
made from its LMS id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .roster import SAFE_ID, Roster, Student

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


def _pick(files: list[tuple[Path, str]],
          prefer: str | None) -> tuple[Path | None, tuple[Path, ...]]:
    """The notebook to grade among ``(path, file name as submitted)``, and the rest."""
    notebooks = [(p, n) for p, n in files if n.lower().endswith(".ipynb")]
    chosen = next((p for p, n in notebooks if prefer and n == prefer), None)
    if chosen is None and notebooks:
        chosen = notebooks[0][0]
    return chosen, tuple(p for p, _ in files if p != chosen)


def _gradescope(folder: Path) -> dict[str, tuple[tuple[str, str, str], ...]]:
    """Gradescope's metadata: submission folder -> ((name, sid, email), ...)."""

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
        found[str(key).lstrip(":")] = tuple(submitters)
    return found


def find_submissions(folder: str | Path, *, prefer: str | None = None) -> list[Found]:
    """The submissions in ``folder`` (see the module's docstring), sorted by where they lie.

    ``prefer``: the released lab's file name; among several notebooks of one submission, the
    one of that name is graded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionsError(f"{folder}: no such folder")
    metadata = _gradescope(folder) if (folder / GRADESCOPE_METADATA).is_file() else {}
    canvas: dict[tuple[str, str, bool], list[tuple[Path, str]]] = {}
    moodle: dict[tuple[str, str], list[tuple[Path, str]]] = {}
    found: list[Found] = []
    for item in sorted(p for p in folder.iterdir() if _visible(p)):
        if item.is_dir():
            files = [(p, p.name) for p in _files(item)]
            folder_match = MOODLE_FOLDER.fullmatch(item.name)
            if item.name in metadata or (metadata and item.name.startswith("submission_")):
                path, others = _pick(files, prefer)
                found.append(Found(lms="gradescope", key=item.name, path=path, others=others,
                                   submitters=metadata.get(item.name, ())))
            elif folder_match:
                moodle.setdefault((folder_match["participant"], folder_match["name"]),
                                  []).extend(files)
            elif any(n.lower().endswith(".ipynb") for _, n in files):  # <id>/ with the notebook
                path, others = _pick(files, prefer)
                found.append(Found(lms="plain", key=item.name, path=path, others=others))
            continue
        if item.name == GRADESCOPE_METADATA:
            continue
        anonymous = CANVAS_ANONYMOUS.fullmatch(item.name)
        named = CANVAS.fullmatch(item.name)
        moodle_file = MOODLE_FILE.fullmatch(item.name)
        if moodle_file:
            moodle.setdefault((moodle_file["participant"], moodle_file["name"]), []).append(
                (item, moodle_file["file"]))
        elif anonymous or named:
            match = anonymous or named
            user = f"anon_{match['user']}" if anonymous else match["user"]
            name = "" if anonymous else match["name"]
            canvas.setdefault((user, name, bool(match["late"])), []).append((item, match["file"]))
        elif item.suffix.lower() == ".ipynb":
            found.append(Found(lms="plain", key=item.stem, path=item))
    for (user, name, late), files in canvas.items():
        path, others = _pick(files, prefer)
        found.append(Found(lms="canvas", key=user, name=name, late=late, path=path,
                           others=others))
    for (participant, name), files in moodle.items():
        path, others = _pick(files, prefer)
        found.append(Found(lms="moodle", key=participant, name=name, path=path, others=others))
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
    unmatched: list[Entry] = []
    used: set[str] = {s.id for s in roster.students} if roster else set()
    for item in found:
        flags = []
        if item.late:
            flags.append("submitted late (Canvas)")
        if item.path is None:
            names = ", ".join(p.name for p in item.others[:5])
            flags.append(f"no notebook among the submitted files ({names})")
        elif any(p.suffix.lower() == ".ipynb" for p in item.others):
            flags.append(f"several notebooks in this submission: graded {item.path.name}; not "
                         "graded: " + ", ".join(p.name for p in item.others
                                                if p.suffix.lower() == ".ipynb"))
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
            entries = by_student.setdefault(student.id, [])
            extra = []
            student_id = student.id
            if entries:  # a second submission of the same student: kept, under its own id
                number = len(entries) + 1
                while f"{student.id}.{number}" in used:
                    number += 1
                student_id = f"{student.id}.{number}"
                used.add(student_id)
                extra = [f"another submission of {student.id} ({_describe(item)}): its row is "
                         "not exported"]
            entries.append(Entry(student_id=student_id, path=item.path,
                                 flags=tuple(flags + how + extra), student=student))
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
