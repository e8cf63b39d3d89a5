"""Which local files an example depends on, and what of them counts.

An example's result depends on the local modules it imports, followed
transitively (torch and friends are covered by their versions instead),
and on their *code*: comments, docstrings and layout cannot change what an
example computes, so ``code_digest`` leaves them out. Imports are read from
the syntax tree, so an import that code builds at run time (``importlib``)
is not seen; the kernel refuses such imports (``kernel.bundle_only``).

A build asks for the imports and the digest of the same few files many
times (every example's key, page and downloads); both depend on a file's
text only, so they are remembered by the digest of the text, within a
build and, through ``remember``, from one build to the next.
"""

import ast
import hashlib
import json
import os
import threading
from pathlib import Path

from mkdocs.exceptions import PluginError

_PARSING = threading.Lock()
_MEMO = {}  # digest of a file's text -> {"imports": [...], "code": digest}
_MEMO_STATE = {"file": None, "changed": False, "used": set()}


def remember(path, log=None) -> None:
    """Keep what is learnt of files in ``path`` (JSON) from build to
    build: load it now, ``save_memo`` writes it. A damaged file is
    ignored (its own digest says so), with a line to ``log``."""
    _MEMO_STATE.update(file=Path(path), changed=False, used=set())
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
        body = json.dumps(stored["memo"], sort_keys=True)
        if hashlib.sha256(body.encode()).hexdigest() == stored["digest"]:
            _MEMO.update(stored["memo"])
            return
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if log is not None:
        log(f"{path}: damaged or changed by hand; what the Python files "
            "import is worked out again")


def save_memo() -> None:
    """Write what this build used (what no file holds any more is
    forgotten)."""
    path, used = _MEMO_STATE["file"], _MEMO_STATE["used"]
    if path is None or not (_MEMO_STATE["changed"] or used ^ set(_MEMO)):
        return
    memo = {token: _MEMO[token] for token in sorted(used)}
    body = json.dumps(memo, sort_keys=True)
    text = json.dumps({"digest": hashlib.sha256(body.encode()).hexdigest(),
                       "memo": memo})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    _MEMO_STATE["changed"] = False


def _learnt(source, filename, what, compute):
    """``what`` ("imports" or "code") of a file's text, computed once."""
    token = hashlib.sha256(source.encode()).hexdigest()
    _MEMO_STATE["used"].add(token)
    entry = _MEMO.setdefault(token, {})
    if what not in entry:
        entry[what] = compute(source, filename)
        _MEMO_STATE["changed"] = True
    return entry[what]


def parse(path, source: str | None = None) -> ast.Module:
    """The syntax tree of the Python file ``path`` (or of its ``source``).
    One at a time: in Python 3.11, ``ast.parse`` in two threads at once can
    fail with "SystemError: AST constructor recursion depth mismatch"
    (CPython gh-106905), and examples' keys are computed in the runner's
    threads."""
    if source is None:
        source = Path(path).read_text(encoding="utf-8")
    with _PARSING:
        try:
            return ast.parse(source, str(path))
        except SyntaxError as error:  # one line, not mkdocs' traceback
            raise PluginError(
                f"{_shown(path)}:{error.lineno}: SyntaxError: {error.msg} "
                "(fix the file; nothing runs until it parses)") from None


def _shown(path) -> str:
    """``path`` relative to the working folder where it is inside it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


_FOUND = {}  # (module, search paths) -> its file or None, until forget()


def forget() -> None:
    """Forget which files module names resolved to: a build starts with
    this (under ``mkdocs serve`` a file may have been added since)."""
    _FOUND.clear()


def module_file(module: str, search_paths) -> Path | None:
    """The file a module name resolves to under ``search_paths``, if any
    (remembered until ``forget``)."""
    token = (module, tuple(str(p) for p in search_paths))
    if token not in _FOUND:
        _FOUND[token] = _find(module, search_paths)
    return _FOUND[token]


def _find(module, search_paths):
    parts = module.split(".")
    for base in search_paths:
        candidate = Path(base).joinpath(*parts)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def _imported_names(source, filename):
    return tuple(_learnt(source, filename, "imports", _parse_imports))


def _parse_imports(source, filename):
    names = []
    for node in ast.walk(parse(filename, source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            # `from a.b import c`: a, a.b, and a.b.c if c is a module
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def local_imports(path, search_paths) -> list[Path]:
    """Every local module file that ``path`` imports, followed transitively
    (packages' ``__init__.py`` included), sorted.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "pkg").mkdir()
    >>> _ = (root / "pkg" / "__init__.py").write_text("")
    >>> _ = (root / "pkg" / "a.py").write_text("import os\\nfrom pkg import b")
    >>> _ = (root / "pkg" / "b.py").write_text("")
    >>> _ = (root / "ex.py").write_text("import pkg.a")
    >>> [p.relative_to(root).as_posix()
    ...  for p in local_imports(root / "ex.py", [root])]
    ['pkg/__init__.py', 'pkg/a.py', 'pkg/b.py']
    """
    search_paths = [Path(p) for p in search_paths]
    seen, todo = set(), [Path(path)]
    while todo:
        current = todo.pop()
        names = _imported_names(current.read_text(encoding="utf-8"),
                                str(current))
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # packages' __init__ too
                found = module_file(".".join(parts[:i]), search_paths)
                if found and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return sorted(seen)


def code_digest(path) -> str:
    """Digest of a module's code: comments, docstrings and layout do not
    count (nothing an example computes can depend on them).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "m.py"
    >>> _ = p.write_text('def f():\\n    "Doc."\\n    return 1  # one\\n')
    >>> before = code_digest(p)
    >>> _ = p.write_text("def f():\\n    '''Other.'''\\n\\n    return 1\\n")
    >>> code_digest(p) == before
    True
    >>> _ = p.write_text('def f():\\n    return 2\\n')
    >>> code_digest(p) == before
    False
    """
    return _learnt(Path(path).read_text(encoding="utf-8"), str(path), "code",
                   _code_digest)


def _code_digest(source, filename):
    tree = parse(filename, source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body
                and isinstance(node, (ast.Module, ast.ClassDef,
                                      ast.FunctionDef, ast.AsyncFunctionDef))
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()
