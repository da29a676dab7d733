"""In the student's kernel: which library function a code object or a C function is, and which
TODOs forbid or allow it (:class:`CodeNames`, the naming half of the call recorder).

The kernel's guard loads a private copy of this file, as it does of
:mod:`~segedu.grading.kernel.call_recorder`, and hands it to the :class:`~.call_recorder.Recorder`,
so that no notebook can patch what names a call. A Python function is named by where its code
lives (the module that holds its file, then ``co_qualname``: ``segedu.losses.dice.dice_loss``,
``torch.nn.modules.conv.Conv2d.forward``) and is covered when one of its dotted prefixes is, with
the meaning of :func:`segedu.grading.kernel.call_names.covers`; a function written in C
(``torch.conv2d``) by ``__module__.__name__`` or by being the very object an entry names. Module
and class bodies (what ``import`` runs) are no call. Every verdict is cached by the object's id.
"""

import sys
import types

_FUNCTION = 0x0001  # CO_OPTIMIZED: a function's code (not a module's or a class body's)


def covers(entry: str, name: str) -> bool:
    """Whether the dotted ``entry`` of a forbid/allow list covers the resolved dotted ``name``."""
    if name == entry or name.startswith(entry + "."):
        return True
    parent, _, last = entry.rpartition(".")
    return bool(parent) and name.rpartition(".")[2] == last and name.startswith(parent + ".")


class CodeNames:
    """The dotted names of what runs, and the TODOs (of ``todos``, see the recorder) that forbid
    or allow each; :attr:`quiet` and :attr:`loud` are the profile's fast path (the ids that no
    TODO forbids, and those that some do: id -> (dotted name, forbidding TODOs))."""

    def __init__(self, todos: dict):
        self.todos = todos
        # code or C function id -> (object, dotted name, forbidden by, allowed by)
        self._verdicts: dict[int, tuple] = {}
        self.quiet: set[int] = set()
        self.loud: dict[int, tuple] = {}
        self._modules: dict[str, str | None] = {}  # file -> module name
        self._roots: list[str] = []  # folders under which a file's path spells its module
        self._roots_seen = -1
        self._named: dict[int, tuple] = {}  # id of an object an entry names -> (object, entry)
        for entries in [rule.get("forbid", []) + rule.get("allow", []) for rule in todos.values()]:
            for entry in entries:
                found = self.lookup(entry)
                if found is not None:
                    self._named[id(found)] = (found, entry)

    @staticmethod
    def lookup(entry: str):
        """The object a dotted entry names, when its module is already imported (else None)."""
        parts = entry.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = sys.modules.get(".".join(parts[:cut]))
            if module is None:
                continue
            value = module
            try:
                for name in parts[cut:]:
                    value = getattr(value, name)
            except AttributeError:
                return None
            return value
        return None

    def find_roots(self) -> None:
        """The import roots, longest first: the folders of ``sys.path``, and those that the
        imported modules' files show (an editable install has no folder in ``sys.path``)."""
        self._roots_seen = len(sys.modules)
        roots = {p.rstrip("/") + "/" for p in sys.path if isinstance(p, str) and p.startswith("/")}
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if not isinstance(path, str) or not path.endswith(".py"):
                continue
            parts = path[:-3].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            dotted = name.split(".")
            if parts[-len(dotted):] == dotted and len(parts) > len(dotted):
                roots.add("/".join(parts[:-len(dotted)]) + "/")
        self._roots = sorted(roots, key=len, reverse=True)

    def module_of(self, filename: str) -> str | None:
        """The dotted module of a source file (``.../site-packages/torch/nn/functional.py`` ->
        ``torch.nn.functional``), or None for a file under no import root (a cell, a string)."""
        if filename in self._modules:
            return self._modules[filename]
        found = None
        if filename.endswith(".py"):
            root = next((r for r in self._roots if filename.startswith(r)), None)
            if root is None and len(sys.modules) != self._roots_seen:
                self.find_roots()
                root = next((r for r in self._roots if filename.startswith(r)), None)
            if root is not None:
                parts = filename[len(root):-3].split("/")
                if parts[-1] == "__init__":
                    parts.pop()
                if parts and all(part.isidentifier() for part in parts):
                    found = ".".join(parts)
        self._modules[filename] = found
        return found

    def judge(self, dotted: str | None, obj) -> tuple[tuple, tuple]:
        """The TODOs that forbid, and those that allow, the function named ``dotted``."""
        if dotted is None:
            return (), ()
        parts = dotted.split(".")
        prefixes = [".".join(parts[:n]) for n in range(1, len(parts) + 1)]
        named = self._named.get(id(obj))
        if named is not None and named[0] is obj:
            prefixes.append(named[1])
        forbidden, allowed = [], []
        for todo, rule in self.todos.items():
            allow = any(covers(a, p) for a in rule.get("allow", []) for p in prefixes)
            if allow:
                allowed.append(todo)
            elif any(covers(f, p) for f in rule.get("forbid", []) for p in prefixes):
                forbidden.append(todo)
        return tuple(forbidden), tuple(allowed)

    def code_verdict(self, code) -> tuple:
        found = self._verdicts.get(id(code))
        if found is None or found[0] is not code:
            dotted = None
            if code.co_flags & _FUNCTION:
                module = self.module_of(code.co_filename)
                dotted = f"{module}.{code.co_qualname}" if module else None
            found = (code, dotted, *self.judge(dotted, None))
            self.keep(found)
        return found

    def keep(self, found: tuple) -> None:
        """Cache a verdict by the object's id (the object is kept alive, so the id stays its)."""
        key = id(found[0])
        self._verdicts[key] = found
        if found[2]:
            self.loud[key] = (found[1], found[2])
        else:
            self.quiet.add(key)

    def builtin_verdict(self, function) -> tuple:
        found = self._verdicts.get(id(function))
        if found is None or found[0] is not function:
            module = getattr(function, "__module__", None)
            owner = getattr(function, "__self__", None)
            if module is None and isinstance(owner, types.ModuleType):
                module = owner.__name__
            name = getattr(function, "__name__", None)
            dotted = f"{module}.{name}" if module and isinstance(name, str) else None
            found = (function, dotted, *self.judge(dotted, function))
            self.keep(found)
        return found
