"""Run examples as notebooks, once, and cache what they produce.

An example is a jupytext-percent script in ``examples/``. Running it here
means: read it as a notebook, drop the snippet markers, execute every cell
in a fresh kernel (so nothing is left over from an earlier run), and keep

    <cache>/<mode>/outputs/<name>/   what the example wrote (figures, tables)
    <cache>/<mode>/gallery/<name>.ipynb the executed notebook (its page)
    <cache>/<mode>/runs/<name>.json  the cache record: key, seconds

The cache key covers the example's bytes, the bytes of every local module it
imports (followed transitively), this file, the versions of the packages
that shape the results, and the mode. Change any of them and the example
runs again; change nothing and it is free.
"""

import ast
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

MARKER = re.compile(r"^\s*#\s*-{1,2}8<-{1,2}\s*\[(start|end):[\w-]+\]\s*$")
# Packages whose version can change a number or a figure on the site.
PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "jupytext",
            "nbclient", "ipykernel", "pillow"]


class ExampleError(Exception):
    """An example failed; the message says which one, where and why."""


@dataclass
class Example:
    """One example script and what is known about it without running it."""

    path: Path
    name: str = ""
    title: str = ""
    summary: str = ""
    measures_time: bool = False

    def __post_init__(self):
        self.path = Path(self.path)
        self.name = self.name or self.path.stem
        if not self.title:
            self.title, self.summary = read_title(self.path)
        self.measures_time = self.measures_time or measures_time(self.path)


@dataclass
class Run:
    """The outcome of asking for an example: fresh or from the cache."""

    example: Example
    key: str
    seconds: float
    cached: bool
    outputs: Path
    notebook: Path
    files: list = field(default_factory=list)


def read_title(path):
    """Title and one-paragraph summary from the first markdown cell.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "demo.py"
    >>> _ = p.write_text('# %% [markdown]\\n# # A title\\n#\\n# Some words\\n'
    ...                  '# more words.\\n#\\n# Later text.\\n')
    >>> read_title(p)
    ('A title', 'Some words more words.')
    """
    title, summary, lines = "", [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%") and lines:
            break
        if line.startswith("# %%"):
            continue
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    for text in lines:
        if text.startswith("# ") and not title:
            title = text[2:].strip()
        elif title and text:
            summary.append(text)
        elif title and summary:
            break
    if not title:
        raise ExampleError(
            f"{path}: an example must start with a markdown cell whose first "
            "line is its title ('# %% [markdown]' then '# # Title')")
    return title, " ".join(summary)


def measures_time(path):
    """Whether the example records wall-clock timings (``Report.timings``):
    such an example runs alone, so no other example disturbs its clock.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "demo.py"
    >>> _ = p.write_text("report.timings(seconds=1.0)\\n")
    >>> measures_time(p)
    True
    >>> _ = p.write_text("report.values(timings=1)  # .timings( in text\\n")
    >>> measures_time(p)
    False
    """
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), str(path))
    return any(isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute)
               and node.func.attr == "timings" for node in ast.walk(tree))


def trains(example, root):
    """Whether the example imports the shared training loop (directly or
    through another module): a hint that it is one of the long ones."""
    training = Path(root).resolve() / "snippets" / "training.py"
    return training in [p.resolve() for p in local_imports(
        example.path, [root, example.path.parent])]


def jobs_from_env(environ=None):
    """How many examples run at once: ``$DOCS_JOBS``, else one per core.

    >>> jobs_from_env({"DOCS_JOBS": "3"})
    3
    >>> jobs_from_env({"DOCS_JOBS": "0"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: DOCS_JOBS must be a positive whole number (how ...), got '0'
    """
    environ = os.environ if environ is None else environ
    value = environ.get("DOCS_JOBS", "").strip()
    if not value:
        return max(1, len(os.sched_getaffinity(0)))
    if not value.isdigit() or int(value) < 1:
        raise ValueError("DOCS_JOBS must be a positive whole number (how "
                         f"many examples run at once), got {value!r}")
    return int(value)


def discover(examples_dir):
    """Every example in ``examples_dir`` (``*.py`` not starting with _)."""
    paths = sorted(Path(examples_dir).glob("*.py"))
    return [Example(p) for p in paths if not p.name.startswith("_")]


# --- which local files an example depends on ------------------------------

def _module_file(module, search_paths):
    """The file a module name resolves to under ``search_paths``, if any."""
    parts = module.split(".")
    for base in search_paths:
        candidate = base.joinpath(*parts)
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def local_imports(path, search_paths):
    """Every local module file that ``path`` imports, followed transitively.

    Only files under ``search_paths`` count: torch and friends are covered
    by their versions instead. Imports are read from the syntax tree, so an
    import that code builds at run time (``importlib``) is not seen.
    """
    search_paths = [Path(p) for p in search_paths]
    seen, todo = set(), [Path(path)]
    while todo:
        current = todo.pop()
        tree = ast.parse(current.read_text(encoding="utf-8"), str(current))
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                # `from a.b import c`: a, a.b, and a.b.c if c is a module
                names.append(node.module)
                names += [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # packages' __init__ too
                found = _module_file(".".join(parts[:i]), search_paths)
                if found and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return sorted(seen)


def package_versions():
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cache_key(example, root, fast, versions=None):
    """Hex digest that changes whenever the example's output could."""
    root = Path(root)
    digest = hashlib.sha256()
    files = [example.path, Path(__file__)]
    files += local_imports(example.path, [root, example.path.parent])
    for path in files:
        path = Path(path).resolve()
        try:
            label = path.relative_to(root.resolve()).as_posix()
        except ValueError:
            label = path.name
        digest.update(label.encode() + b"\0" + path.read_bytes() + b"\0")
    versions = package_versions() if versions is None else versions
    digest.update(json.dumps(versions, sort_keys=True).encode())
    digest.update(b"fast" if fast else b"full")
    return digest.hexdigest()


# --- running ----------------------------------------------------------------

def to_notebook(path):
    """The example as a notebook, snippet markers removed."""
    import jupytext

    notebook = jupytext.read(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            lines = [ln for ln in cell.source.splitlines()
                     if not MARKER.match(ln)]
            cell.source = "\n".join(lines).strip("\n")
    notebook.cells = [c for c in notebook.cells if c.source.strip()]
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class Runner:
    """Runs examples into a cache folder, one mode (fast or full) each."""

    def __init__(self, root, cache_dir, fast, cell_timeout=900, log=None):
        self.root = Path(root).resolve()
        self.fast = fast
        self.base = Path(cache_dir).resolve() / ("fast" if fast else "full")
        self.outputs_root = self.base / "outputs"
        self.cell_timeout = cell_timeout
        self.log = log or (lambda message: None)
        self._versions = None

    def paths(self, name):
        # The notebook's folder is named like its page's: mkdocs-jupyter
        # matches its `include` patterns against this path.
        return (self.outputs_root / name,
                self.base / "gallery" / f"{name}.ipynb",
                self.base / "runs" / f"{name}.json")

    def cached(self, example):
        """The cached Run if present, without checking it is current."""
        outputs, notebook, record = self.paths(example.name)
        if not (record.is_file() and notebook.is_file() and outputs.is_dir()):
            return None
        data = json.loads(record.read_text(encoding="utf-8"))
        return Run(example, data["key"], data["seconds"], True, outputs,
                   notebook, data["files"])

    def run(self, example, force=False):
        """Return the example's Run, executing it only if its key changed."""
        return self.run_all([example], force=force)[example.name]

    def run_all(self, examples, jobs=1, force=False):
        """Runs of all ``examples`` (a dict by name, in their order).

        Stale examples run ``jobs`` at a time, the longest first so that
        the last one to start is short: by their last recorded time, or,
        never run (a cold cache), those that import the training loop
        before the others. Then the examples that measure time run one by
        one, alone. The first failure stops new runs and is raised once
        the running ones end.
        """
        from concurrent.futures import ThreadPoolExecutor

        if self._versions is None:
            self._versions = package_versions()
        runs, stale = {}, []
        for example in examples:
            key = cache_key(example, self.root, self.fast, self._versions)
            previous = self.cached(example)
            if previous and previous.key == key and not force:
                runs[example.name] = previous
            elif previous:
                stale.append((example, key, previous.seconds))
            else:  # unknown: guess that training takes longest
                stale.append((example, key, float("inf") if trains(
                    example, self.root) else 0.0))
        stale.sort(key=lambda item: -item[2])  # stable: ties keep order
        shared = [item for item in stale if not item[0].measures_time]
        alone = [item for item in stale if item[0].measures_time]
        errors = {}

        def one(item):
            example, key, _ = item
            if errors:
                return  # a run failed: start nothing new
            try:
                runs[example.name] = self._execute(example, key)
            except ExampleError as error:
                errors[example.name] = error

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, shared))
        for item in alone:
            one(item)
        if errors:
            first = next(e.name for e in examples if e.name in errors)
            raise errors[first]
        return {e.name: runs[e.name] for e in examples}

    def _execute(self, example, key):
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        import nbformat

        outputs, notebook_path, record = self.paths(example.name)
        shutil.rmtree(outputs, ignore_errors=True)  # no stale figure survives
        outputs.mkdir(parents=True)
        notebook_path.parent.mkdir(parents=True, exist_ok=True)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.unlink(missing_ok=True)
        notebook = to_notebook(example.path)
        env = {"DOCS_FAST": "1" if self.fast else "0",
               "DOCS_OUTPUT_DIR": str(outputs),
               "MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1"}  # no writes under watch
        self.log(f"running {example.path.name}")
        # IPC sockets: the kernel talks to this process only, not over TCP.
        sockets = tempfile.mkdtemp(prefix="bn-kernel-")  # short socket paths
        manager = KernelManager(kernel_name="python3", transport="ipc",
                                ip=os.path.join(sockets, "k"))
        start = time.perf_counter()
        try:
            NotebookClient(
                notebook, km=manager, timeout=self.cell_timeout,
                kernel_name="python3",
                allow_errors=False, record_timing=False,
                resources={"metadata": {"path": str(self.root)}},
            ).execute(env={**os.environ, **env})  # the kernel's environment
        except CellExecutionError as error:
            raise ExampleError(
                f"example {example.path} failed:\n{_strip_ansi(str(error))}"
            ) from None
        except Exception as error:  # timeout, dead kernel, ...
            raise ExampleError(
                f"example {example.path} could not run: "
                f"{type(error).__name__}: {_strip_ansi(str(error))}"
            ) from None
        finally:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
            shutil.rmtree(sockets, ignore_errors=True)
        seconds = time.perf_counter() - start
        nbformat.write(notebook, notebook_path)
        files = sorted(p.relative_to(outputs).as_posix()
                       for p in outputs.rglob("*") if p.is_file())
        record.write_text(json.dumps(
            {"key": key, "seconds": round(seconds, 3), "files": files},
            indent=2) + "\n", encoding="utf-8")
        return Run(example, key, seconds, False, outputs, notebook_path,
                   files)
