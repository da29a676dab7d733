"""Running a submission in bubblewrap (``segedu-grade --isolate``): what the student's code may see.

With ``isolate=True`` (:func:`.sandbox.run_notebook`; it needs bubblewrap's ``bwrap``), the
whole run (pytest and its kernel) runs in new Linux namespaces: a read-only view of ``/``; no
network (a new network namespace with only loopback, which nbval needs to talk to its kernel);
its own process ids (every process dies with the run); a private empty ``/tmp`` (memory-backed,
256 MiB) in which only the run's own temporary folder is mounted, writable; and an empty folder
mounted over each of ``hidden`` (the released lab's folder, the solution's, the submissions', the
output folder), so that their files cannot be read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["IsolationError", "isolation_problem", "isolated"]

TMP_BYTES = 256 * 2**20  # size of the private /tmp under isolation
SEGEDU_HOME = Path(__file__).resolve().parents[3]  # the folder that holds segedu/


class IsolationError(RuntimeError):
    """``isolate=True`` cannot be honoured here (no ``bwrap``, or it cannot create namespaces)."""


def isolation_problem() -> str | None:
    """Why ``isolate=True`` cannot work on this machine, or ``None`` when it can
    (bwrap is tried)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap's `bwrap` is not installed (Debian: apt-get install bubblewrap)"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                            "--unshare-net", "--unshare-pid", "--die-with-parent", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"`bwrap` cannot create namespaces here: {probe.stderr.strip()[:300]}"
    return None


def isolated(command: list[str], private: Path, work: Path, hidden: list[Path]) -> list[str]:
    """``command`` inside bubblewrap: read-only /, no network, own pids, only
    ``private`` writable."""
    problem = isolation_problem()
    if problem is not None:
        raise IsolationError(problem)
    keep = [Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent,
            SEGEDU_HOME]
    args = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--unshare-net", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    # The private /tmp hides what lives under /tmp; the Python environment and segedu may (a clone
    # in /tmp): bind them back, read-only, before the hidden folders are laid over them.
    tmp = Path("/tmp").resolve()
    for path in dict.fromkeys(keep):
        if path == tmp or tmp in path.parents:
            args += ["--ro-bind", str(path), str(path)]
    for folder in hidden:
        folder = folder.resolve()
        if not folder.is_dir():
            continue
        needed = [k for k in keep if k == folder or folder in k.parents]
        if needed or folder == private or folder in private.parents:
            raise IsolationError(f"--isolate would hide {folder}, which holds "
                                 f"{needed[0] if needed else 'the run folder'}; move it elsewhere")
        args += ["--tmpfs", str(folder)]
    args += ["--bind", str(private), str(private), "--chdir", str(work), "--", *command]
    return args
