"""Files that no submission may change, guarded by the grader around every run.

The lab, the solution, the gradebook, the points entered by hand and the submitted files are
read into memory before the batch (:class:`FileGuard`); after each run and after the batch,
:meth:`FileGuard.restore` puts back any that changed (same bytes, same modification time) and says
which, so that the row of the submission after whose run it was seen can be flagged. This is the
grader's side; the guard inside the student's kernel is :mod:`.cell_guard`.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

__all__ = ["FileGuard"]


class FileGuard:
    """Files that no submission may change: their bytes and times, read before the batch.

    :meth:`restore` puts back any that changed (or removes one that did not exist) and says which.
    """

    def __init__(self, paths: dict[str, Path]):
        self._lock = threading.Lock()
        self.saved: dict[str, tuple[Path, bytes | None, tuple[int, int] | None]] = {}
        for name, path in paths.items():
            if path.is_file():
                info = path.stat()
                self.saved[name] = (path, path.read_bytes(), (info.st_atime_ns, info.st_mtime_ns))
            else:
                self.saved[name] = (path, None, None)

    def data(self, name: str) -> bytes | None:
        return self.saved[name][1]

    def refresh(self, name: str) -> None:
        """Read ``name`` again: the grader itself changed it (``--force`` on another lab's folder
        removed its gradebook)."""
        path = self.saved[name][0]
        with self._lock:
            if path.is_file():
                info = path.stat()
                self.saved[name] = (path, path.read_bytes(), (info.st_atime_ns, info.st_mtime_ns))
            else:
                self.saved[name] = (path, None, None)

    def restore(self) -> list[str]:
        """Undo every change to the guarded files; the names of those that had changed."""
        changed = []
        with self._lock:
            for name, (path, data, times) in self.saved.items():
                try:
                    now = path.read_bytes() if path.is_file() else None
                    same_time = times is None or path.stat().st_mtime_ns == times[1]
                except OSError:  # unreadable now: put it back
                    now, same_time = None, False
                if now == data and (data is None or same_time) and not (data is None
                                                                        and path.exists()):
                    continue
                changed.append(name)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)  # a folder made where a file belongs
                if data is None:
                    path.unlink(missing_ok=True)
                    continue
                temporary = path.with_name(f".{path.name}.restore")
                temporary.write_bytes(data)
                os.utime(temporary, ns=times)
                os.replace(temporary, path)
        return changed
