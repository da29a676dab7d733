"""Checksummed, cached download of the files that real datasets and checkpoints need.

One rule governs everything here: a file at its final path is always complete and verified.

- :func:`download_file` streams a URL into a temporary file next to the destination, checks its
  SHA-256, and only then renames it into place (``os.replace`` is atomic on one file system).
  Whatever goes wrong (no network, server gone mid-stream, wrong checksum, Ctrl-C), the temporary
  file is removed and nothing half-written is left behind.
- A destination that already exists with the right checksum is reused, never downloaded again.
  One with a *wrong* checksum is the user's file: it is neither deleted nor overwritten, the error
  names it.
- Without internet (the machines that build segedu, a laptop on a train) the error says which file
  is missing, where it comes from, and where to put a copy fetched by hand.

:class:`DatasetFile` describes one downloadable resource (name, URL, SHA-256, whether to unpack it)
and is what the dataset loaders use for ``download=True``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from segedu.data.archive import extract_archive

__all__ = ["download_file", "DownloadError", "DatasetFile", "sha256_of"]

_CHUNK_SIZE = 1 << 20  # 1 MiB per read: small enough for a smooth progress bar
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(RuntimeError):
    """A file could not be downloaded or verified; the message says how to get it by hand.

    In Jupyter (IPython) the error shows as its one-line message, not as a traceback: what failed
    is the network or a file, never the notebook's code.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of the traceback (its hook for exceptions that have one)."""
        return [f"{type(self).__name__}: {self}"]


def sha256_of(path: str | os.PathLike[str], *, chunk_size: int = _CHUNK_SIZE) -> str:
    """The SHA-256 of a file's bytes as 64 lowercase hex digits, read in chunks (any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256.lower()):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return sha256.lower()


def _by_hand(url: str, dest: Path) -> str:
    """How to get ``dest`` without this machine reaching ``url``."""
    return (
        f"To get it by hand: download {url} on a machine with internet access and copy it to "
        f"{dest} (same name), then run again. Datasets and checkpoints live under $SEGEDU_CACHE "
        f"(default ~/.cache/segedu); set SEGEDU_CACHE to a folder that already holds them to reuse "
        f"a copy."
    )


def _stream_to(url: str, out: BinaryIO, *, dest: Path, progress: bool, timeout: float) -> str:
    """Copy ``url`` into the open binary file ``out``; return the SHA-256 of what was received."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "segedu"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
            ) as bar:
                while chunk := response.read(_CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(
            f"Could not download {dest.name}: {url} answered HTTP {error.code} ({error.reason}). "
            + _by_hand(url, dest)
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(
            f"Could not download {dest.name} from {url}: {reason}. "
            f"Is this machine offline? " + _by_hand(url, dest)
        ) from error
    if total is not None and received != total:
        raise DownloadError(
            f"Could not download {dest.name} from {url}: the connection closed after {received} "
            f"of {total} bytes. Run again to retry. " + _by_hand(url, dest)
        )
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256; return ``dest`` as a ``Path``.

    Args:
        url: where the file comes from (``http``, ``https`` or ``file``).
        dest: the final path of the file; its folder is created when missing.
        sha256: the expected SHA-256 (64 hex digits). A file that does not match is never kept.
        progress: show a ``tqdm`` progress bar (in notebooks, a widget).
        timeout: seconds to wait for the server to connect or to send the next bytes.

    If ``dest`` already exists with the right checksum it is returned at once, without any network
    access. If it exists with another checksum, :class:`DownloadError` is raised and the file is
    left untouched. Any failure raises :class:`DownloadError` (or re-raises ``KeyboardInterrupt``)
    after removing the partial download.
    """
    expected = _check_sha256(sha256)
    dest = Path(dest).expanduser()
    if dest.exists() or dest.is_symlink():
        if not dest.is_file():
            raise DownloadError(f"{dest} exists but is not a file; move it away to download {url}")
        actual = sha256_of(dest)
        if actual == expected:
            return dest
        raise DownloadError(
            f"{dest} already exists but its SHA-256 is {actual}, not the expected {expected}. "
            "It was left untouched: if it is an incomplete or outdated copy, delete or move it "
            f"and run again to download {url}."
        )

    dest.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the destination's folder so that the final rename stays on one
    # file system (atomic) and a crash never leaves a partial file under the final name.
    handle, temporary_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                              suffix=".part")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as out:
            actual = _stream_to(url, out, dest=dest, progress=progress, timeout=timeout)
        if actual != expected:
            raise DownloadError(
                f"The download of {dest.name} from {url} has SHA-256 {actual}, not the expected "
                f"{expected}; it was discarded. The server may have changed the file or a proxy "
                f"altered it. " + _by_hand(url, dest)
            )
        os.replace(temporary, dest)
    except BaseException:  # also KeyboardInterrupt: never leave the partial file behind
        temporary.unlink(missing_ok=True)
        raise
    return dest


@dataclass(frozen=True)
class DatasetFile:
    """One downloadable file of a dataset.

    Attributes:
        name: file name on disk (no folders), e.g. ``"VOCtrainval_11-May-2012.tar"``.
        url: where to download it.
        sha256: its SHA-256, 64 hex digits.
        extract: ``True`` for an archive (zip or tar) to unpack into the folder it is saved in.
    """

    name: str
    url: str
    sha256: str
    extract: bool = False

    def __post_init__(self) -> None:
        if not self.name or Path(self.name).name != self.name or self.name in (".", ".."):
            raise ValueError(f"DatasetFile name must be a plain file name, got {self.name!r}")
        _check_sha256(self.sha256)

    def fetch(self, folder: str | os.PathLike[str], *, progress: bool = True,
              timeout: float = 60.0) -> Path:
        """Download this file into ``folder`` (unless already there) and unpack it if an archive.

        Returns the path of the downloaded file. An archive is unpacked into ``folder`` with
        :func:`~segedu.data.archive.extract_archive` (no member may land outside ``folder`` and no
        existing different file is overwritten); a marker file ``.<name>.extracted`` records a
        completed extraction so that later calls do nothing, even if the archive was deleted.
        """
        folder = Path(folder).expanduser()
        path = folder / self.name
        if not self.extract:
            return download_file(self.url, path, sha256=self.sha256, progress=progress,
                                 timeout=timeout)
        marker = folder / f".{self.name}.extracted"
        if marker.is_file() and marker.read_text().strip() == self.sha256.lower():
            return path
        download_file(self.url, path, sha256=self.sha256, progress=progress, timeout=timeout)
        extract_archive(path, folder)
        marker.write_text(self.sha256.lower() + "\n")
        return path
