"""Safe unpacking of downloaded zip and tar archives.

An archive is untrusted input: a member named ``../../.bashrc`` or ``/etc/passwd``, or a symbolic
link pointing outside the target folder, would let it write anywhere ("zip slip"). Before writing
anything, :func:`extract_archive` checks every member and refuses the whole archive if one of them
would escape. It then unpacks into a hidden staging folder inside the destination and moves the
files into place, so that

- an interrupted extraction leaves no half-unpacked tree under the final names, and
- a file that already exists with different content is never overwritten (the user's data stays).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["extract_archive", "UnsafeArchiveError", "ExtractConflictError"]

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination folder (or is a device)."""


class ExtractConflictError(FileExistsError):
    """Extracting would overwrite an existing file whose content differs."""


def _relative_member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's path relative to the destination; raise if it is absolute or climbs out."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if path.is_absolute() or _DRIVE.match(posix) or ".." in path.parts:
        raise UnsafeArchiveError(
            f"{archive} contains the member {name!r}, which would be written outside the "
            f"destination folder; the archive was not extracted"
        )
    return path


def _check_link(member: tarfile.TarInfo, archive: Path) -> None:
    """A link must point inside the archive's own tree."""
    target = member.linkname.replace("\\", "/")
    if member.issym():
        # a symbolic link is resolved relative to the folder that holds it
        joined = PurePosixPath(member.name).parent / target
    else:
        # a hard link names another member, relative to the archive root
        joined = PurePosixPath(target)
    depth = 0
    escapes = PurePosixPath(target).is_absolute() or bool(_DRIVE.match(target))
    for part in joined.parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        escapes = escapes or depth < 0
    if escapes:
        raise UnsafeArchiveError(
            f"{archive} contains the link {member.name!r} -> {member.linkname!r}, which points "
            f"outside the destination folder; the archive was not extracted"
        )


def _check_tar(tar: tarfile.TarFile, archive: Path) -> None:
    for member in tar.getmembers():
        _relative_member_path(member.name, archive)
        if member.issym() or member.islnk():
            _check_link(member, archive)
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"{archive} contains {member.name!r}, a device or pipe; the archive was not "
                "extracted"
            )


def _check_zip(zipped: zipfile.ZipFile, archive: Path) -> None:
    for name in zipped.namelist():
        _relative_member_path(name, archive)


def _walk_files(root: Path):
    """Yield ``(folder, names)`` for every folder under ``root``: its files and its links (a link
    to a folder is moved like a file, never followed)."""
    for folder, dirs, files in os.walk(root):
        links = [name for name in dirs if os.path.islink(os.path.join(folder, name))]
        yield folder, files + links


def _conflicts(staging: Path, dest: Path) -> list[Path]:
    """Existing paths in ``dest`` that the staged files would overwrite with different content."""
    found = []
    for folder, files in _walk_files(staging):
        for file_name in files:
            staged = Path(folder) / file_name
            target = dest / staged.relative_to(staging)
            for parent in target.relative_to(dest).parents:
                existing = dest / parent
                if existing != dest and existing.exists() and not existing.is_dir():
                    found.append(existing)
            if target.is_symlink() or target.exists():
                same = (
                    target.is_file()
                    and not target.is_symlink()
                    and not staged.is_symlink()
                    and filecmp.cmp(staged, target, shallow=False)
                )
                if not same:
                    found.append(target)
    return found


def _move_into(staging: Path, dest: Path) -> list[Path]:
    """Move every staged file to the same relative path under ``dest``; return the new paths."""
    moved = []
    for folder, files in _walk_files(staging):
        relative_folder = Path(folder).relative_to(staging)
        (dest / relative_folder).mkdir(parents=True, exist_ok=True)
        for file_name in files:
            target = dest / relative_folder / file_name
            if not (target.exists() or target.is_symlink()):  # identical files are left as they are
                os.replace(Path(folder) / file_name, target)
            moved.append(target)
    return moved


def extract_archive(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Unpack a zip or tar archive (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``).

    Args:
        archive: the archive file; its format is recognised from its content, not its name.
        dest: folder to unpack into (created when missing).

    Returns:
        The paths of the unpacked files under ``dest``.

    Raises:
        UnsafeArchiveError: a member is absolute, contains ``..``, is a link pointing outside the
            archive's tree, or is a device; nothing is written.
        ExtractConflictError: a file of the archive already exists in ``dest`` with different
            content; nothing is written.
        ValueError: ``archive`` is neither a zip nor a tar file.
    """
    archive = Path(archive)
    dest = Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".extracting-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                _check_zip(zipped, archive)
                zipped.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                _check_tar(tar, archive)
                # Python >= 3.11.4: the standard library's own checks too
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, filter="data")
                else:  # pragma: no cover - older Python; every member was checked above
                    tar.extractall(staging)
        else:
            raise ValueError(f"{archive} is neither a zip nor a tar archive (is the download "
                             "complete?)")
        conflicts = _conflicts(staging, dest)
        if conflicts:
            listed = ", ".join(str(path) for path in conflicts[:3])
            more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
            raise ExtractConflictError(
                f"Extracting {archive} would overwrite {listed}{more}, which already exist with "
                f"different content; nothing was extracted. Move them away and run again."
            )
        return _move_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
