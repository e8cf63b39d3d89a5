"""Which local files an example depends on, and what of them counts.

An example's result depends on the local modules it imports, followed
transitively (torch and friends are covered by their versions instead),
and on their *code*: comments, docstrings and layout cannot change what an
example computes, so ``code_digest`` leaves them out. Imports are read from
the syntax tree, so an import that code builds at run time (``importlib``)
is not seen; the kernel refuses such imports (``kernel.bundle_only``).

A build asks for the imports and the digest of the same few files many
times (every example's key, page and downloads); both depend on a file's
text only, so they are remembered by text.
"""

import ast
import functools
import hashlib
import threading
from pathlib import Path

_PARSING = threading.Lock()


def parse(path, source: str | None = None) -> ast.Module:
    """The syntax tree of the Python file ``path`` (or of its ``source``).
    One at a time: in Python 3.11, ``ast.parse`` in two threads at once can
    fail with "SystemError: AST constructor recursion depth mismatch"
    (CPython gh-106905), and examples' keys are computed in the runner's
    threads."""
    if source is None:
        source = Path(path).read_text(encoding="utf-8")
    with _PARSING:
        return ast.parse(source, str(path))


def module_file(module: str, search_paths) -> Path | None:
    """The file a module name resolves to under ``search_paths``, if any."""
    parts = module.split(".")
    for base in search_paths:
        candidate = Path(base).joinpath(*parts)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


@functools.lru_cache(maxsize=512)
def _imported_names(source, filename):
    names = []
    for node in ast.walk(parse(filename, source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            # `from a.b import c`: a, a.b, and a.b.c if c is a module
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return tuple(names)


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
    return _code_digest(Path(path).read_text(encoding="utf-8"), str(path))


@functools.lru_cache(maxsize=512)
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
