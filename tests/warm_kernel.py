"""Warm kernels for the tests: Jupyter kernels forked from a process that has imported torch.

A lab or chapter kernel spends most of its CPU time importing: ``torch`` 2 CPU-seconds,
``torchvision`` 2 more (1.4 of them ``torch._dynamo``, which ``torchvision.ops`` imports),
matplotlib and IPython about 1; the other cells of a fast-mode lab take 1 to 4 (measured on the
developers' 2-core machine). The tests start 55 such kernels in a few environments
(the book's fast build 19, JupyterLab's Run All on every lab 27, the solutions on a student's
install 9), so most of what they cost is the same imports again and again. Measured (CPU seconds
of everything a test run started, its cgroup's): the 9 blank labs' Run All and the 9 solutions on
the student install 178 plain, 115 warm.

Here a kernel named ``python3`` (in a folder put first on ``JUPYTER_PATH`` by :func:`warm_env`)
starts this file as a **stub**: it sends its environment, working folder, arguments and standard
streams to a **zygote** (one per environment, started on first use) that has imported
:data:`PRELOAD` and forks a child; the child takes them over and runs ``python -m
ipykernel_launcher -f <connection file>`` as the plain kernel does. What a notebook sees is the
same (its environment, folder, ``sys.argv``, ``sys.path``, fresh random states); only the imports
are done already.

jupyter_client treats the stub as the kernel process: it interrupts (SIGINT), terminates or kills
the stub's process group. So the stub relays every signal to the child's process group, and the
child kills itself (and its group) when the stub is gone (its socket to the stub reaches its end).
The stub ends when the child ends. Anything that fails before the child runs makes the stub run
the plain kernel itself (``exec``), so a warm kernel is never a broken one.

Only the kernels that the tests themselves start use it (opt in with :func:`warm_env`); the
grader's kernels under nbval never do, since its process-tree limits and sandbox are what its
tests prove. A student's kernel and ``make book`` are plain.

The stub runs under ``python -S``: this file imports the standard library only at its top.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The environment variable naming the folder of the warm kernels (the kernel specification, one
# socket per zygote); set for the whole test run by tests/conftest.py.
FOLDER_VARIABLE = "SEGEDU_WARM_KERNELS"
# The process whose end ends every zygote (the pytest run).
OWNER_VARIABLE = "SEGEDU_WARM_KERNELS_OWNER"

# What a zygote imports before it forks: the slow imports of every lab and chapter (segedu.models
# brings most of segedu).
PRELOAD = ("numpy", "torch", "torchvision", "matplotlib", "ipykernel.kernelapp", "segedu.models")

# Variables that differ between kernels of the same environment and that no preloaded module
# reads at import: the zygote does not depend on them (the child gets them all).
VOLATILE = frozenset({"PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                      "PYTEST_XDIST_TESTRUNUID", "JPY_PARENT_PID", "JPY_SESSION_NAME", "PWD",
                      "OLDPWD", "SHLVL", "_"})

# Seconds a zygote stays without a kernel before it ends (each holds torch: ~0.5 GB).
IDLE_SECONDS = 300
# Seconds a stub waits for a new zygote to import PRELOAD.
START_SECONDS = 180
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
           signal.SIGUSR2)


def kernelspec(folder: Path) -> Path:
    """Write ``folder/kernels/python3/kernel.json``, the warm ``python3`` kernel; return the
    file."""
    spec = folder / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({
        "argv": [sys.executable, "-S", str(Path(__file__).resolve()), "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel, warm for the tests)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": True},
    }, indent=1), encoding="utf8")
    return spec


def warm_env() -> dict[str, str]:
    """What to add to a kernel's launching environment for a warm ``python3`` kernel:
    ``JUPYTER_PATH`` with the warm kernels' folder first; nothing outside a test run."""
    folder = os.environ.get(FOLDER_VARIABLE)
    if not folder:
        return {}
    rest = os.environ.get("JUPYTER_PATH")
    return {"JUPYTER_PATH": os.pathsep.join([folder, rest] if rest else [folder])}


def env_key(env: dict[str, str]) -> str:
    """The zygote of an environment: a digest of every variable but the :data:`VOLATILE` ones."""
    kept = sorted((k, v) for k, v in env.items() if k not in VOLATILE)
    return hashlib.sha256(json.dumps([sys.executable, kept]).encode()).hexdigest()[:20]


# --- the stub --------------------------------------------------------------------------------


def _plain_kernel(arguments: list[str]) -> None:
    """Become the plain kernel (the fallback): ``python -m ipykernel_launcher ARGUMENTS``."""
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *arguments])


def _connect(path: Path) -> socket.socket | None:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        return None
    return client


def _zygote_socket(folder: Path, env: dict[str, str]) -> socket.socket | None:
    """A connection to the zygote of ``env``, started first if there is none (one at a time: a
    lock per environment)."""
    key = env_key(env)
    path = folder / f"{key}.sock"
    client = _connect(path)
    if client is not None:
        return client
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = _connect(path)
        if client is not None:
            return client
        path.unlink(missing_ok=True)  # left by a zygote that ended
        # (with JPY_PARENT_PID, which ipykernel reads at import: a kernel launched by a client
        # prints no connection banner, and watches its parent, here the zygote)
        with open(folder / f"{key}.log", "ab") as log:
            subprocess.Popen([sys.executable, "-c", _ZYGOTE_BOOT, str(Path(__file__).resolve()),
                              str(path)], env=env, cwd=str(folder),
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if path.exists():
                client = _connect(path)
                if client is not None:
                    return client
            time.sleep(0.05)
    return None


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            return data
        data += chunk
    return data


def stub(arguments: list[str]) -> None:
    """Run the kernel of ``arguments`` (``-f <connection file>``) in a zygote's child; relay
    signals to it; return when it ends. Falls back to the plain kernel."""
    folder = os.environ.get(FOLDER_VARIABLE)
    env = dict(os.environ)
    try:
        sock = _zygote_socket(Path(folder), env) if folder else None
        if sock is None:
            raise OSError("no zygote")
        payload = json.dumps({"argv": arguments, "cwd": os.getcwd(), "env": env}).encode()
        socket.send_fds(sock, [len(payload).to_bytes(8, "big")], [0, 1, 2])
        sock.sendall(payload)
        answer = _read_line(sock)
        if not answer.startswith(b"pid "):
            raise OSError(f"the zygote answered {answer!r}")
        child = int(answer.split()[1])
    except (OSError, ValueError) as error:
        print(f"warm kernel: {error}; starting a plain kernel", file=sys.stderr, flush=True)
        _plain_kernel(arguments)
        return

    def relay(signum, frame):
        try:
            os.killpg(child, signum)
        except OSError:
            pass

    for signum in SIGNALS:
        signal.signal(signum, relay)
    while sock.recv(64):  # the child writes nothing more: the end of the stream is its end
        pass


# --- the zygote ------------------------------------------------------------------------------

# How a zygote starts: this file loaded under a private name (not on sys.path), then zygote().
_ZYGOTE_BOOT = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_segedu_warm_kernel", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.zygote(sys.argv[2])
"""


def _preload() -> None:
    """Import :data:`PRELOAD`, each as far as this environment allows (a module that the
    environment's site hides stays unimported, with nothing of it left behind)."""
    for name in PRELOAD:
        before = set(sys.modules)
        try:
            __import__(name)
        except Exception:
            for added in set(sys.modules) - before:
                del sys.modules[added]


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _flags, _address = socket.recv_fds(conn, 8, 3)
    size = int.from_bytes(header, "big")
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("the stub left")
        data += chunk
    return json.loads(data), fds


def _threads() -> int:
    """Python's threads in this process. (Native ones are not counted: OpenBLAS, which numpy
    loads, starts its pool at import unless OMP_NUM_THREADS=1, and stops it before a fork.)"""
    import threading

    return threading.active_count()


def zygote(path: str) -> None:
    """Import :data:`PRELOAD`, listen on the socket ``path``, fork a kernel per request. Ends when
    the test run's process ends, or after :data:`IDLE_SECONDS` without a kernel."""
    _preload()
    owner = int(os.environ.get(OWNER_VARIABLE) or 0)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(16)
    os.replace(path + ".new", path)  # appears only when ready
    listener.settimeout(1.0)
    children: set[int] = set()
    idle_since = time.monotonic()
    while True:
        for pid in list(children):
            if os.waitpid(pid, os.WNOHANG)[0]:
                children.discard(pid)
                idle_since = time.monotonic()
        if children:
            idle_since = time.monotonic()
        owner_gone = owner and not Path(f"/proc/{owner}").exists()
        if owner_gone or time.monotonic() - idle_since > IDLE_SECONDS:
            Path(path).unlink(missing_ok=True)
            os._exit(0)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        if _threads() != 1:  # fork only without other threads: the stub runs a plain kernel
            conn.sendall(b"threads\n")
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            _kernel(conn, request, fds)  # never returns
        children.add(pid)
        conn.close()
        for fd in fds:
            os.close(fd)


def _kernel(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take over the stub's streams, folder, environment and arguments, and
    run ``python -m ipykernel_launcher``; the process ends with the kernel."""
    import importlib.util
    import runpy
    import threading

    os.setsid()
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    launcher = importlib.util.find_spec("ipykernel_launcher").origin
    sys.argv = [launcher, *request["argv"]]
    sys.path[0] = os.getcwd()  # as `python -m` puts it
    sys.modules.pop("_segedu_warm_kernel", None)
    if "numpy" in sys.modules:  # its global random state was seeded in the zygote
        sys.modules["numpy"].random.seed()

    def watch_stub():
        try:
            while conn.recv(64):
                pass
        except OSError:
            pass
        os.killpg(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch_stub, name="warm-kernel-stub-watch", daemon=True).start()
    conn.sendall(f"pid {os.getpid()}\n".encode())
    code = 0
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.exit(code)


if __name__ == "__main__":
    stub(sys.argv[1:])
