"""The grader's guard inside the student's kernel: graded cells with their own tools, and
tampering seen.

This file is not imported by the grader. :mod:`~segedu.grading.run.sandbox` copies it into a private
IPython profile as a *startup file*, so the kernel that runs a submission executes it before any
cell of the notebook. It reads its configuration (a JSON file named by ``SEGEDU_GRADE_GUARD``,
deleted as soon as it is read) and then:

1. **snapshots** the functions the graded cells rely on: every callable and submodule of
   ``builtins``, ``math``, ``numpy``, ``torch``, ``torch.nn.functional``, ``torch.testing``,
   ``segedu.grading`` (and its ``checks``), the modules the graded cells import, and the methods of
   ``torch.Tensor``; with each module's entry in ``sys.modules`` and its class;
2. loads a **private copy** of :mod:`segedu.grading.kernel.checks` (a fresh module object, not in
   ``sys.modules``), whose functions see a frozen copy of the builtins and of the few torch
   functions they call;
3. defines ``__segedu_grade__(gid)``. The grader replaces the source of every graded cell by
   ``__segedu_grade__("<gid>")``; the call looks at the snapshot, re-binds in the notebook's
   namespace ``check``, ``assert_close`` and ``CheckFailed`` (the private copy) and the modules and
   functions that the released lab imports and the graded cell uses (``torch``, ``F``, ...), then
   runs the released source of the cell. It looks again after the cell, and at every ``check`` and
   ``assert_close`` call in it;
4. when the lab's TODOs forbid library functions, starts the **call recorder**
   (:mod:`~segedu.grading.kernel.call_recorder` with :mod:`~segedu.grading.kernel.call_names`,
   private copies) before the first cell, and runs each graded cell through it, so that the names
   the TODOs define lead into the student's answer;
5. publishes, for every graded cell, one **record** as display data of type :data:`MIME`: whether
   the cell passed, what was found replaced and the forbidden calls recorded, signed with
   HMAC-SHA256 under a key that only the grader and this file know. The grader gives a graded cell
   its points only when nbval saw it pass *and* its record is there, is signed, says it passed and
   lists nothing replaced (and no recorded call voids it).

So a notebook that rebinds ``check``, patches ``torch.allclose``, ``segedu.grading.assert_close`` or
``builtins.isinstance``, hides the errors that IPython would show, or prints look-alike ✓ lines gets
no points for the graded cells concerned, and the row says why. The limit: the guard lives in the
student's process. Code written to read the grader's own objects out of that process (this guard's
closure) can still forge its records; the grader looks for such code before the run
(:mod:`~segedu.grading.run.static_scan`), but only running the checks in another process would
close it.
"""

MIME = "application/vnd.segedu.grade+json"


def _segedu_read_config() -> dict | None:
    """The guard's configuration (:func:`segedu.grading.run.cell_guard_channel.guard_config`), read
    once and deleted: the key is in memory only from then on; ``None`` when the kernel has none."""
    import contextlib
    import json
    import os

    path = os.environ.pop("SEGEDU_GRADE_GUARD", None)
    if not path:
        return None
    with open(path, encoding="utf8") as file:
        config = json.load(file)
    with contextlib.suppress(OSError):
        os.unlink(path)
    return config


def _segedu_private_module(name: str, path: str):
    """A private copy of the module in file ``path`` (not in ``sys.modules``), with its own copy of
    the builtins."""
    import builtins
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = dict(vars(builtins))
    spec.loader.exec_module(module)
    return module


def _segedu_snapshot(config: dict, ignored: set, user_ns: dict, recorder):
    """Step 1: the functions and modules the graded cells rely on, as they are before any cell;
    returns ``changes()``, which lists what differs from them now (``torch.allclose``,
    ``sys.modules['numpy']``), and the modules snapshotted by name."""
    import builtins
    import contextlib
    import importlib
    import sys
    import types

    modules: dict[str, types.ModuleType] = {}
    for name in ["builtins", "math", "numpy", "torch", "torch.nn.functional", "torch.testing",
                 "contextlib", "segedu.grading", "segedu.grading.checks", "segedu.grading.kernel",
                 "segedu.grading.kernel.checks", *config["modules"]]:
        with contextlib.suppress(Exception):  # a module the kernel lacks: the cell will fail anyway
            modules[name] = importlib.import_module(name)
    for name, module in modules.items():
        # segedu's names imported on first use (a module __getattr__, PEP 562): resolved now, so
        # that the snapshot holds them and a notebook that replaces one later is seen
        if name.startswith("segedu") and "__getattr__" in vars(module):
            for each in getattr(module, "__all__", ()):
                with contextlib.suppress(Exception):
                    getattr(module, each)
    watched: list[tuple[str, object, dict]] = []  # (label, namespace, {name: object})

    def keep(namespace) -> dict:
        return {k: v for k, v in list(namespace.items())
                if k not in ignored and (callable(v) or isinstance(v, types.ModuleType))}

    for name, module in modules.items():
        watched.append((name, vars(module), keep(vars(module))))
    torch = modules.get("torch")
    if torch is not None:
        watched.append(("torch.Tensor", vars(torch.Tensor), keep(vars(torch.Tensor))))
    for cls in (contextlib._GeneratorContextManager, contextlib._GeneratorContextManagerBase):
        watched.append((f"contextlib.{cls.__name__}", vars(cls), keep(vars(cls))))
    classes = {name: type(module) for name, module in modules.items()}
    system_modules = sys.modules

    def changes() -> list[str]:
        """What differs from the snapshot, as ``torch.allclose`` or ``sys.modules['numpy']``."""
        found = []
        if sys.modules is not system_modules:
            found.append("sys.modules")
        for name, module in modules.items():
            if system_modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}]")
            if type(module) is not classes[name]:
                found.append(f"the class of module {name}")
        for label, namespace, saved in watched:
            for key, value in saved.items():
                now = namespace.get(key, ignored)
                if now is not value and not (isinstance(now, types.MethodType) and now == value):
                    found.append(f"{label}.{key}")
        if user_ns.get("__builtins__", builtins) is not builtins:
            found.append("__builtins__ of the notebook")
        if recorder is not None:
            found += recorder.problems()
        return found

    return changes, modules


def _segedu_tools(config: dict, private, changes, during: list, modules: dict, user_ns: dict):
    """Step 2: the grader's own ``check``, ``assert_close``... (the private copy of the checks,
    noting ``changes()`` into ``during`` at every call), and ``rebind()``, which puts them and
    the modules and functions that the released lab imports back under their names."""
    import contextlib
    import importlib

    def resolve(dotted: str):
        """What an import binds: ``torch.nn.functional`` (``import ... as``) is a module;
        ``segedu.metrics:matching`` (``from ... import``) the attribute, else the submodule."""
        module, _, name = dotted.partition(":")
        if not name:
            return importlib.import_module(module)
        parent = importlib.import_module(module)
        if hasattr(parent, name):
            return getattr(parent, name)
        return importlib.import_module(f"{module}.{name}")

    @contextlib.contextmanager
    def check(name: str, *, hint: str = "", **options):
        with private.check(name, hint=hint, **options):
            try:
                yield
            finally:
                during.extend(changes())

    def assert_close(actual, expected, **options):
        during.extend(changes())
        return private.assert_close(actual, expected, **options)

    def finish_checks():
        during.extend(changes())
        return private.finish_checks()

    check.__doc__, assert_close.__doc__ = private.check.__doc__, private.assert_close.__doc__
    finish_checks.__doc__ = private.finish_checks.__doc__
    public = {}  # what the lab's own import binds, which the notebook may hold under those names
    with contextlib.suppress(Exception):
        public = {n: getattr(modules["segedu.grading"], n)
                  for n in ("check", "assert_close", "CheckFailed", "expect", "finish_checks",
                            "Mistake")}
    tools = {"check": check, "assert_close": assert_close, "CheckFailed": private.CheckFailed,
             "expect": private.expect, "finish_checks": finish_checks, "Mistake": private.Mistake}
    trusted = {}
    for name, dotted in config["names"].items():
        if name in tools and dotted.startswith("segedu.grading"):
            trusted[name] = tools[name]
        else:
            with contextlib.suppress(Exception):
                trusted[name] = resolve(dotted)

    def rebind() -> list[str]:
        """Put the trusted objects under their names; the names the notebook had bound otherwise."""
        found = []
        for name, value in trusted.items():
            now = user_ns.get(name, value)
            if now is not value and now is not public.get(name, value):
                found.append(f"`{name}` (as the notebook binds it)")
            user_ns[name] = value
        return found

    return rebind


def _segedu_install_guard() -> None:
    """Read the configuration, start the call recorder, take the snapshot, load the private
    checks, and define ``__segedu_grade__`` (steps 0 to 5 of the module)."""
    import hashlib
    import hmac

    config = _segedu_read_config()
    if config is None:
        return
    from IPython import get_ipython
    from IPython.display import publish_display_data

    shell = get_ipython()
    user_ns = shell.user_ns
    try:  # OpenSSL's HMAC object: a C type, whose methods no notebook can replace
        import _hashlib

        signer = _hashlib.hmac_new(bytes.fromhex(config.pop("key")), digestmod="sha256")
    except (ImportError, AttributeError, ValueError):
        signer = hmac.new(bytes.fromhex(config.pop("key")), digestmod=hashlib.sha256)
    sources: dict[str, str] = config["cells"]

    # 0. the call recorder (:mod:`.call_recorder`) of the functions that the lab's TODOs forbid,
    #    first: it replaces sys.setprofile, which the snapshot then holds as it is
    recorder = None
    if config.get("answers"):
        naming = _segedu_private_module("segedu_grade_private_names", config["code_names"])
        recording = _segedu_private_module("segedu_grade_private_recorder", config["recorder"])
        recorder = recording.Recorder(todos=config["answers"], user_ns=user_ns, shell=shell,
                                      grader_globals=(globals(),), names=naming.CodeNames)
        recorder.install()  # recording starts once the guard is ready (step 3)
    # 1. the snapshot, before any cell of the notebook runs
    # set by IPython or ipykernel around every cell (input: stdin forwarding), not by the notebook
    ignored = {"get_ipython", "exit", "quit", "display", "input", "raw_input", "_", "__", "___",
               "__segedu_grade__"}
    changes, modules = _segedu_snapshot(config, ignored, user_ns, recorder)
    # 2. the private copy of the checks, with frozen builtins and torch functions
    private = _segedu_private_module("segedu_grade_private_checks", config["checks"])
    during: list[str] = []  # what changed while a graded cell ran (noted by the tools)
    rebind = _segedu_tools(config, private, changes, during, modules, user_ns)
    publish, new_mac, mime = publish_display_data, signer.copy, MIME
    compile_, exec_ = compile, exec
    count = [0]

    def record(gid: str, passed: bool, replaced: list[str]) -> None:
        """Publish ``gid|passed|n|what;was;replaced|calls`` and its HMAC (text: no encoder to
        patch); ``calls``: what the call recorder saw the TODOs' answers call so far. A failed
        cell of checks with points writes ``passed`` as ``0:earned/total``
        (:func:`~segedu.grading.kernel.checks.cell_score`)."""
        count[0] += 1
        score = private.cell_score()
        if not passed and score is not None:
            passed = f"0:{float(score[0])!r}/{float(score[1])!r}"
        what = ";".join(sorted(set(replaced))[:50])
        calls = ";".join(sorted(recorder.calls)[:200]) if recorder is not None else ""
        flag = passed if isinstance(passed, str) else 1 if passed else 0
        body = f"{gid}|{flag}|{count[0]}|{what}|{calls}"
        mac = new_mac()
        mac.update(body.encode("utf8"))
        publish({mime: {"body": body, "mac": mac.hexdigest()}})

    # 3. the graded cells' entry point; 5. one signed record per graded cell
    def grade(gid: str) -> None:
        """Run the released source of graded cell ``gid`` with the grader's tools; record
        the outcome."""
        source = sources[gid]
        during.clear()
        private.cell_score(reset=True)
        replaced = changes() + rebind()
        try:
            code = compile_(source, f"<graded cell {gid}>", "exec")
            if recorder is None:
                exec_(code, user_ns)
            else:  # 4. the TODOs' names enter the student's answer through the recorder's entries
                recorder.grader_code(code)
                recorder.graded(lambda: exec_(code, user_ns))
        except BaseException:
            record(gid, False, replaced + during + changes())
            raise
        record(gid, True, replaced + during + changes())

    user_ns["__segedu_grade__"] = grade
    if recorder is not None:
        recorder.start()
    shell.user_ns_hidden["__segedu_grade__"] = grade


# the installer and its parts, run with the private builtins of _segedu_start_guard
_SEGEDU_PARTS = (_segedu_read_config, _segedu_private_module, _segedu_snapshot, _segedu_tools,
                 _segedu_install_guard)


def _segedu_start_guard() -> None:
    """Run the installer with a private copy of the builtins: the guard's own calls (``isinstance``,
    ``sorted``, ``exec``...) stay the originals whatever the notebook does to ``builtins`` later.
    Each part is re-made with those globals, where the others find it by name."""
    import builtins
    import types

    frozen = {"__builtins__": dict(vars(builtins)), "__name__": "segedu_grade_guard", "MIME": MIME}
    for part in _SEGEDU_PARTS:
        frozen[part.__name__] = types.FunctionType(part.__code__, frozen, part.__name__)
    frozen["_segedu_install_guard"]()


# a startup file in the kernel runs the guard; an import of this module does nothing
if __name__ != "segedu.grading.kernel.cell_guard":
    _segedu_start_guard()
    del (_segedu_read_config, _segedu_private_module, _segedu_snapshot, _segedu_tools,
         _segedu_install_guard, _segedu_start_guard, _SEGEDU_PARTS, MIME)
