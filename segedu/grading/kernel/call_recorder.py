"""In the student's kernel: each call into a function that a TODO forbids, and whose code made it.

The grader runs none of this (:mod:`~segedu.grading.run.sandbox` only copies the file). The kernel's
guard (:mod:`~segedu.grading.kernel.cell_guard`) loads a private copy before any cell runs and
installs a :class:`Recorder` as the profile function (:func:`sys.setprofile`), so it observes what
runs, not what the text says: a function reached through ``importlib`` or ``__import__`` with a
built string, a ``getattr`` chain, code built by ``exec``/``eval``, an object from ``pickle``, or a
reference taken in an earlier cell or a default argument is still a call of the same code object.

**What is forbidden.** Each TODO (``todos``: its lab cell id ->
``{"forbid", "allow", "defines", "source", "mine"}``, see
:func:`segedu.grading.run.library_calls.answer_rules`) forbids the functions, classes and modules of
its ``forbid`` list, less those of ``allow``, with the meaning of
:func:`segedu.grading.kernel.call_names.covers`. What a call is named, and which TODOs forbid it, is
:class:`~segedu.grading.kernel.call_names.CodeNames` (the guard hands the recorder a private copy).

**Whose call it is.** From the caller outwards, the stack decides, frame by frame:

- a frame of the grader (a graded cell's code, compiled by the guard; the private checks; the
  guard itself): the grader's call, for example the expected value of a check. Not recorded;
- a frame of a library function that the TODO forbids or allows, before any code of the
  notebook's: the call is inside that one, which is judged on its own (an allowed function may use
  what it likes). Not recorded. (Code of the notebook's in between, a callback that the library
  function calls, makes the call the notebook's again);
- the *answer entry* of the TODO: during a graded cell, every name the TODO defines is bound to a
  thin function whose code is the recorder's (:meth:`Recorder.graded`), so a graded cell that calls
  ``my_dice_loss`` enters the student's answer there, whatever the name is bound to (the library's
  function itself, a ``functools.partial``, an object from ``pickle``). Recorded;
- the TODO's own code: the functions bound to its names (and the code nested in them, the methods
  of its classes), the other code of its cell, or its cell running. Recorded, unless the line is
  one the lab released (``mine`` lists the lines the student wrote) and no other code of the
  student's is in between;
- other code of the notebook's (its helper functions, ``exec``'d strings): the student's; the walk
  goes on to see whether it serves a TODO (a module that the answer imports, and what its body
  calls, count like any library code).

A call in another thread whose own stack decides nothing (a thread pool's worker) is judged on the
main thread's stack, which waits for it inside the answer. The lines of a TODO's cell are told
apart (the student's or the lab's) where IPython names the cell's file by its source (ipykernel).

A class that a TODO defines is also checked when a graded cell starts: one that is, or inherits, a
forbidden class is recorded as a call of it. Each record is ``todo~dotted name~where``.

**Tampering.** ``sys.setprofile`` and ``threading.setprofile`` are replaced by functions that only
note the attempt; the recorder is put back at every cell if something (a profiler) removed it, and
that is noted too (:meth:`Recorder.problems`), unless the cell ended by an interrupt (a time limit
hit inside the recorder removes it). What it does not see: calls made in another process
(``multiprocessing``); a function written in C (``torch.conv2d``) that the answer calls through
another C function (``map``, a ``functools.partial`` made inside the answer), since a profile sees
only the C calls that Python code makes (a name bound to such a partial is checked, see
:meth:`Recorder.graded`); and code written to dig the original ``sys.setprofile`` or the recorder's
state out of the process (the same limit as the guard's).
"""

import _thread
import functools
import sys
import threading
import types

from segedu.grading.kernel.call_names import CodeNames

_ENTRY = ("def make(target):\n"
          "    def answer(*args, **kwargs):\n"
          "        return target(*args, **kwargs)\n"
          "    return answer\n")
_MAX_CALLS = 200
_BOTTOM = object()  # the walk reached the bottom of the stack undecided


def _nested(code, into: dict) -> None:
    """``code`` and every code object nested in it, by id (kept alive in the values)."""
    into[id(code)] = code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _nested(const, into)


class Recorder:
    """The profile function and what it found: :attr:`calls` (``todo~name~where`` strings)."""

    def __init__(self, *, todos: dict, user_ns: dict, grader_globals: tuple, shell=None,
                 names=None):
        self.todos = todos
        self.user_ns = user_ns
        self.grader_globals = {id(g) for g in (*grader_globals, globals(),
                                               (names or CodeNames).judge.__globals__)}
        self.calls: set[str] = set()
        self.attempts: list[str] = []
        self.errors: list[str] = []  # the recorder's own failures (not the notebook's doing)
        self.grader_codes: dict[int, object] = {}
        self.running: str | None = None  # the TODO whose cell is running at top level
        self.files: dict[str, set[str]] = {t: set() for t in todos}  # TODO -> its code's files
        self.codes: dict[str, dict[int, object]] = {t: {} for t in todos}
        self.mine = {t: set(rule.get("mine", ())) for t, rule in todos.items()}
        self.sources = {rule.get("source"): t for t, rule in todos.items() if rule.get("source")}
        # which library function a code object or C function is, and which TODOs forbid it
        self.names = (names or CodeNames)(todos)
        self._entries: dict[str, object] = {}  # TODO -> the factory of its answer entries
        self._entry_codes: dict[int, str] = {}
        for todo in todos:
            namespace = {"__builtins__": __builtins__}
            exec(compile(_ENTRY, f"<segedu answer {todo}>", "exec"), namespace)
            self._entries[todo] = namespace["make"]
            inner = next(c for c in namespace["make"].__code__.co_consts
                         if isinstance(c, types.CodeType))
            self._entry_codes[id(inner)] = todo
            self.grader_codes[id(inner)] = inner  # not the student's; judged by _entry_codes first
        self._setprofile, self._threading_setprofile = sys.setprofile, threading.setprofile
        self._getprofile = sys.getprofile
        self._shell = shell
        self._hooks = ()
        self._hook = None
        self._cell_file = None
        self._main, self._frames = threading.main_thread().ident, sys._current_frames
        self._interrupted = False

    # --- whose call -------------------------------------------------------------------------------

    def _is_module_dict(self, namespace) -> bool:
        module = sys.modules.get(namespace.get("__name__")) if "__name__" in namespace else None
        return module is not None and getattr(module, "__dict__", None) is namespace

    def _where(self, frame, todo: str):
        """Where the student's answer to ``todo`` made the call from ``frame``: a text; ``None``:
        not it; :data:`_BOTTOM`: the stack ended undecided (a thread's own stack ends early)."""
        student = False
        while frame is not None:
            code = frame.f_code
            entry = self._entry_codes.get(id(code))
            if entry is not None:
                if entry == todo:
                    return "called by a graded cell as the answer"
                frame = frame.f_back
                continue
            namespace = frame.f_globals
            if id(code) in self.grader_codes or id(namespace) in self.grader_globals:
                return None
            if namespace is self.user_ns or not self._is_module_dict(namespace):
                top = (self.running == todo and code.co_name == "<module>"
                       and namespace is self.user_ns and frame.f_back is not None
                       and frame.f_back.f_globals is not self.user_ns)
                if top or code.co_filename in self.files[todo]:
                    if student or frame.f_lineno in self.mine[todo]:
                        return f"`{code.co_qualname}`" if not top else "its cell"
                    return None  # a line the lab released
                if id(code) in self.codes[todo]:
                    return f"`{code.co_qualname}`"
                student = True
            else:
                _, _, forbidden, allowed = self.names.code_verdict(code)
                if (todo in forbidden or todo in allowed) and not student:
                    return None  # inside a call that is judged on its own
            frame = frame.f_back
        return _BOTTOM

    def _note(self, frame, dotted: str, todos: tuple) -> None:
        for todo in todos:
            where = self._where(frame, todo)
            if where is _BOTTOM and _thread.get_ident() != self._main:
                # another thread (a thread pool...): whose work it is shows on the main thread's
                # stack, which waits for it inside the answer
                where = self._where(self._frames().get(self._main), todo)
                where = f"{where} (in a thread)" if isinstance(where, str) else None
            if isinstance(where, str) and len(self.calls) < _MAX_CALLS:
                self.calls.add(f"{todo}~{dotted}~{where}")

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, KeyboardInterrupt):  # a time limit's: raised here, it would remove
            _thread.interrupt_main()  # the recorder; it is raised again outside instead
        elif len(self.errors) < 5:  # never break the notebook; keep the first few for the report
            self.errors.append(f"{type(error).__name__}: {error}")

    # --- installing, cells, graded cells ----------------------------------------------------------

    def install(self) -> None:
        """Make the profile function; refuse other profilers (``sys.setprofile``,
        ``threading.setprofile``); follow the cells. Call :meth:`start` to begin."""
        names = self.names
        quiet, loud, code_verdict, builtin_verdict = (names.quiet, names.loud, names.code_verdict,
                                                      names.builtin_verdict)
        note, failed, module_type = self._note, self._failed, types.ModuleType

        def profile(frame, event, arg):  # a closure: sys.getprofile() does not hand out the state
            try:  # every call of the notebook comes here: the common case first, and briefly
                if event == "call":  # a Python function: its code decides
                    key = id(frame.f_code)
                    if key in quiet:
                        return
                    found = loud.get(key)
                    if found is None:
                        found = code_verdict(frame.f_code)[1:3]
                        if not found[1]:
                            return
                    note(frame.f_back, found[0], found[1])
                elif event == "c_call":  # a C function, not a method of an object
                    key = id(arg)
                    if key in quiet:
                        return
                    found = loud.get(key)
                    if found is None:
                        owner = getattr(arg, "__self__", None)
                        if owner is not None and not isinstance(owner, module_type):
                            return
                        found = builtin_verdict(arg)[1:3]
                        if not found[1]:
                            return
                    note(frame, found[0], found[1])
            except BaseException as error:
                failed(error)

        self._hook = profile

        def refuse(name, original):
            def setprofile(function):
                if function is profile:  # a new thread installs the recorder (threading does)
                    original(function)
                else:
                    self.attempts.append(f"{name} (the grader's call recorder)")
            return setprofile

        sys.setprofile = refuse("sys.setprofile", self._setprofile)
        threading.setprofile = refuse("threading.setprofile", self._threading_setprofile)
        if self._shell is not None:
            self._hooks = (self._pre_run, self._post_run)
            self._shell.events.register("pre_run_cell", self._pre_run)
            self._shell.events.register("post_run_cell", self._post_run)

    def start(self) -> None:
        """Record in this thread and in every thread started from now on."""
        self._setprofile(self._hook)
        self._threading_setprofile(self._hook)

    def _ensure(self) -> None:
        """Put the recorder back if it was removed; note it unless the cell ended by an interrupt
        (a time limit's, which removes the recorder when it strikes as the recorder starts)."""
        if self._getprofile() is not self._hook:
            if not self._interrupted:
                self.attempts.append("the grader's call recorder was switched off")
            self._setprofile(self._hook)
        if getattr(threading, "_profile_hook", self._hook) is not self._hook:
            self.attempts.append("threading._profile_hook (the grader's call recorder)")
            self._threading_setprofile(self._hook)
        self._interrupted = False

    def _pre_run(self, info=None) -> None:
        self._ensure()
        raw = getattr(info, "raw_cell", None)
        self.running = self.sources.get(raw)
        self._cell_file = None
        if self.running is not None:  # the file IPython compiles the cell as (ipykernel: by source)
            try:
                self._cell_file = self._shell.compile.get_code_name(raw, raw, 0)
            except Exception:  # another IPython: the released lines are then told apart at top
                pass  # level only

    def _post_run(self, result=None) -> None:
        error = getattr(result, "error_in_exec", None)
        if isinstance(error, KeyboardInterrupt):
            self._interrupted = True
        self._learn()
        self.running = None

    def _learn(self) -> None:
        """The code of each TODO's answer: what its names are bound to, when it is the student's."""
        for todo, rule in self.todos.items():
            for name in rule.get("defines", ()):
                value = self.user_ns.get(name)
                functions = [value] if isinstance(value, types.FunctionType) else []
                if isinstance(value, type):
                    functions = [f for cls in value.__mro__ for f in vars(cls).values()
                                 if isinstance(f, types.FunctionType)]
                for function in functions:
                    if function.__globals__ is self.user_ns:
                        _nested(function.__code__, self.codes[todo])
                        if (self.running == todo
                                and function.__code__.co_filename == self._cell_file):
                            self.files[todo].add(self._cell_file)  # defined in the TODO's cell

    def grader_code(self, code) -> None:
        """Mark ``code`` (a graded cell's, compiled by the guard) and what it nests as the
        grader's."""
        _nested(code, self.grader_codes)

    def problems(self) -> list[str]:
        """What was done to the recorder, as the guard's list of replaced things."""
        if self._hooks and self._shell is not None:
            for event, hook in zip(("pre_run_cell", "post_run_cell"), self._hooks, strict=True):
                if hook not in self._shell.events.callbacks.get(event, []):
                    self.attempts.append(f"IPython's {event} event (the grader's call recorder)")
                    self._shell.events.register(event, hook)
        return list(self.attempts)

    def _bound_to_library(self, todo: str, name: str, value) -> None:
        """Record a TODO's name bound to a forbidden C function, or to a ``functools.partial`` or
        a bound method of one: calling it runs no Python frame that the profile could see."""
        for _ in range(10):
            if isinstance(value, functools.partial):
                value = value.func
            elif isinstance(value, types.MethodType):
                value = value.__func__
            else:
                break
        if isinstance(value, types.BuiltinFunctionType):
            _, dotted, forbidden, _ = self.names.builtin_verdict(value)
        elif isinstance(value, types.FunctionType):
            _, dotted, forbidden, _ = self.names.code_verdict(value.__code__)
        else:
            return
        if todo in forbidden and len(self.calls) < _MAX_CALLS:
            self.calls.add(f"{todo}~{dotted}~`{name}` is bound to it")

    def graded(self, run) -> None:
        """Call ``run()`` (a graded cell) with every TODO's names bound to its answer entry."""
        self._ensure()
        self._learn()
        swapped = {}
        for todo, rule in self.todos.items():
            for name in rule.get("defines", ()):
                value = self.user_ns.get(name)
                if isinstance(value, type):
                    for cls in value.__mro__:
                        dotted = f"{cls.__module__}.{cls.__qualname__}"
                        if (todo in self.names.judge(dotted, cls)[0]
                                and len(self.calls) < _MAX_CALLS):
                            self.calls.add(f"{todo}~{dotted}~class `{name}` is or inherits it")
                elif callable(value):
                    self._bound_to_library(todo, name, value)
                    entry = self._entries[todo](value)
                    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
                        try:
                            setattr(entry, attribute, getattr(value, attribute))
                        except (AttributeError, TypeError):
                            pass
                    entry.__wrapped__ = value  # inspect.signature sees the answer's signature
                    swapped[name] = (value, entry)
                    self.user_ns[name] = entry
        try:
            run()
        except KeyboardInterrupt:  # a time limit: it may have hit the recorder (see _ensure)
            self._interrupted = True
            raise
        finally:
            for name, (value, entry) in swapped.items():
                if self.user_ns.get(name) is entry:
                    self.user_ns[name] = value
            self._ensure()
