"""The tests' warm kernels (tests/warm_kernel.py) behave as plain kernels: same view of the
process, interrupts reach the cell, a killed kernel leaves nothing running, and a stub without a
zygote runs the plain kernel itself."""

from __future__ import annotations

import ast
import os
import signal
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from . import warm_kernel

pytestmark = pytest.mark.skipif(not os.environ.get(warm_kernel.FOLDER_VARIABLE),
                                reason="warm kernels are made on Linux only (tests/conftest.py)")

# what a notebook can see of its process, compared between a plain and a warm kernel
VIEW = ("import os, sys\n"
        "print(repr((os.getcwd(), sys.argv[1:2], os.path.basename(sys.argv[0]), sys.path,"
        " os.environ.get('SEGEDU_VIEW'), sys.executable, tuple(sys.flags),"
        " 'torch' in sys.modules)))")


def _run(client, code: str, timeout: float = 120) -> tuple[str, list[dict]]:
    """What ``code`` printed, and the kernel's error messages."""
    printed, errors = [], []

    def seen(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            errors.append(message["content"])

    client.execute_interactive(code, timeout=timeout, output_hook=seen)
    return "".join(printed), errors


def _start(tmp_path: Path, **env: str):
    return start_new_kernel(kernel_name="python3", cwd=str(tmp_path), startup_timeout=300,
                            env={**os.environ, **env})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text()


def _ends_soon(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_warm_kernel_sees_what_a_plain_kernel_sees(tmp_path, monkeypatch):
    manager, client = _start(tmp_path, SEGEDU_VIEW="plain or warm")
    try:
        plain, _ = _run(client, VIEW)
        assert manager.kernel_spec.argv[1:3] == ["-m", "ipykernel_launcher"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    for name, value in warm_kernel.warm_env().items():
        monkeypatch.setenv(name, value)
    views, parents, draws = [], [], []
    for test in ("first", "second"):  # a volatile variable differs: the same zygote
        manager, client = _start(tmp_path, SEGEDU_VIEW="plain or warm", PYTEST_CURRENT_TEST=test)
        try:
            assert Path(manager.kernel_spec.argv[-3]).name == "warm_kernel.py"
            printed, _ = _run(client, VIEW)
            views.append(printed)
            printed, _ = _run(client, "import os, numpy\nprint(os.getppid(), os.getpid(),"
                                      " numpy.random.rand())")
            parent, pid, draw = printed.split()
            assert int(pid) != manager.provisioner.process.pid  # the stub relays to it
            parents.append(parent)
            draws.append(draw)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    plain_view, warm_view = ast.literal_eval(plain), ast.literal_eval(views[0])
    assert warm_view[:-1] == plain_view[:-1]
    assert (plain_view[-1], warm_view[-1]) == (False, True)  # torch: imported before the kernel
    assert views[0] == views[1]
    assert parents[0] == parents[1], "the second kernel was not forked by the same zygote"
    assert draws[0] != draws[1], "numpy's random state was not drawn afresh"


def test_another_environment_gets_another_zygote(tmp_path, monkeypatch):
    for name, value in warm_kernel.warm_env().items():
        monkeypatch.setenv(name, value)
    parents = []
    for value in ("a", "b"):
        manager, client = _start(tmp_path, SEGEDU_VIEW=value)
        try:
            printed, _ = _run(client, "import os, sys\nprint(os.getppid(), "
                                      "os.environ['SEGEDU_VIEW'])")
            parent, seen = printed.split()
            assert seen == value
            parents.append(parent)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    assert parents[0] != parents[1]


def test_an_interrupt_reaches_the_cell_and_a_killed_kernel_ends(tmp_path, monkeypatch):
    for name, value in warm_kernel.warm_env().items():
        monkeypatch.setenv(name, value)
    manager, client = _start(tmp_path)
    try:
        printed, _ = _run(client, "import os\nprint(os.getpid())")
        kernel = int(printed)
        client.execute("import time\ntime.sleep(300)")
        time.sleep(1.0)
        started = time.monotonic()
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - started < 30
        # the stub's process group killed as jupyter_client kills a kernel: the kernel ends too
        os.killpg(manager.provisioner.process.pid, signal.SIGKILL)
        assert _ends_soon(kernel), "the kernel outlived its stub"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_stub_without_a_zygote_runs_the_plain_kernel(tmp_path, monkeypatch):
    for name, value in warm_kernel.warm_env().items():
        monkeypatch.setenv(name, value)
    missing = tmp_path / "no-such-folder"
    manager, client = _start(tmp_path, **{warm_kernel.FOLDER_VARIABLE: str(missing)})
    try:
        printed, errors = _run(client, "import os, sys\nprint(os.getpid(), 'torch' in sys.modules)")
        assert not errors
        pid, torch_loaded = printed.split()
        assert int(pid) == manager.provisioner.process.pid  # the stub became the kernel
        assert torch_loaded == "False"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", sorted(warm_kernel.VOLATILE))
def test_only_volatile_variables_are_left_out_of_the_key(name):
    env = {"PATH": "/bin", "MPLBACKEND": "Agg"}
    assert warm_kernel.env_key({**env, name: "x"}) == warm_kernel.env_key(env)
    assert warm_kernel.env_key({**env, "OMP_NUM_THREADS": "1"}) != warm_kernel.env_key(env)
