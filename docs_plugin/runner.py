"""Run examples, once, and cache what they produce; never serve damage.

For each example of ``examples/`` (see ``kernel.py`` for how one runs) the
cache keeps, under ``<cache>/<mode>/``::

    entries/<name>.<id>/outputs/           what the example wrote
    entries/<name>.<id>/<name>.ipynb       the executed notebook
    records/<name>.json                    the record: key, seconds,
                                           a hash of every file above, and
                                           of every data file it read
    times.json                             the last measured time of each
                                           example (for scheduling)

A record is written last, atomically, and names its entry, so a run that
was interrupted or failed leaves no record and is never served; the next
build runs it again. Before serving an entry the runner checks every hash
in its record: a truncated figure or a hand-edited table re-runs the
example, with a message saying so.

The cache key covers the example's bytes, the *code* (not comments or
docstrings) of every local module it imports, followed transitively, the
code of ``kernel.py`` and what it imports and of ``standalone.py``, the
versions of the packages that shape the results, and the mode. The data
files an example read are checked separately, by content. Change any of
them and the example runs again; change nothing and it is free.

One build at a time uses a cache folder (a lock file); a second build
waits for the first.
"""

import ast
import fcntl
import fnmatch
import functools
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from docs_plugin import kernel

# Packages whose version can change a number or a figure on the site.
PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "jupytext",
            "nbclient", "ipykernel", "pillow"]
RECORD_VERSION = 2


class ExampleError(Exception):
    """An example failed; the message says which one, where and why."""

    def __init__(self, message, example=None, notebook=None):
        super().__init__(message)
        self.example = example
        self.notebook = notebook  # executed up to the failure, if any


class Interrupted(Exception):
    """The build was interrupted (Ctrl-C); running examples were stopped."""


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
    """An example's result: fresh, or from the cache."""

    example: Example
    key: str
    seconds: float
    cached: bool
    outputs: Path
    notebook: Path
    files: list = field(default_factory=list)
    stale: str = ""  # why a served result is not current ("" if it is)


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
    tree = parse(path)
    return any(isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute)
               and node.func.attr == "timings" for node in ast.walk(tree))


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


_PARSING = threading.Lock()


def parse(path, source=None):
    """The syntax tree of the Python file ``path`` (or of its ``source``).
    One at a time: in Python 3.11, ``ast.parse`` in two threads at once can
    fail with "SystemError: AST constructor recursion depth mismatch"
    (CPython gh-106905), and examples' keys are computed in the runner's
    threads."""
    if source is None:
        source = Path(path).read_text(encoding="utf-8")
    with _PARSING:
        return ast.parse(source, str(path))


# A build asks for the imports and the digest of the same few files
# hundreds of times (every example's key, page and downloads); both depend
# on the file's text only, so they are remembered by text.

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
        names = _imported_names(current.read_text(encoding="utf-8"),
                                str(current))
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # packages' __init__ too
                found = _module_file(".".join(parts[:i]), search_paths)
                if found and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return sorted(seen)


def code_digest(path):
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


def package_versions():
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _label(path, root):
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def recipe_files():
    """``kernel.py`` and the local modules it imports, and
    ``standalone.py``, which makes the notebook that runs: how an example
    runs, which every key covers."""
    recipe = Path(kernel.__file__)
    return [recipe, recipe.with_name("standalone.py")] + local_imports(
        recipe, [recipe.parent.parent])


def cache_key(example, root, fast, versions=None, extra=None):
    """Hex digest that changes whenever the example's output could."""
    root = Path(root)
    digest = hashlib.sha256()
    # The example's own bytes: its comments and text are on its page.
    digest.update(example.path.read_bytes() + b"\0")
    helpers = local_imports(example.path, [root, example.path.parent])
    helpers += recipe_files()
    for path in sorted(set(helpers)):
        digest.update(_label(path, root).encode() + b"\0"
                      + code_digest(path).encode() + b"\0")
    versions = package_versions() if versions is None else versions
    digest.update(json.dumps(versions, sort_keys=True).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    digest.update(b"fast" if fast else b"full")
    return digest.hexdigest()


# --- the cache ------------------------------------------------------------

def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path, text):
    """Write ``text`` to ``path`` so that readers see the old or the new
    file, never half of one (a crash leaves the old one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class Damaged(Exception):
    """A cache entry no longer holds what its record says it wrote."""


class Cache:
    """The cache folder of one mode, ``<cache_dir>/<fast|full>``."""

    def __init__(self, cache_dir, fast):
        self.base = Path(cache_dir).resolve() / ("fast" if fast else "full")
        self._digests = {}  # (path, size, mtime) -> sha256, this process

    def record_path(self, name):
        return self.base / "records" / f"{name}.json"

    @contextmanager
    def lock(self, log):
        """Hold the cache for one build; a second build waits its turn."""
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another build is using {self.base}; waiting for it "
                    "to finish")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def digest(self, path):
        """Content digest, remembered by size and mtime within a build."""
        stat = os.stat(path)
        token = (str(path), stat.st_size, stat.st_mtime_ns)
        if token not in self._digests:
            self._digests[token] = file_digest(path)
        return self._digests[token]

    def read_record(self, name):
        """The record of ``name``, or None; a damaged record raises."""
        path = self.record_path(name)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            assert record["version"] == RECORD_VERSION
            assert isinstance(record["files"], dict)
            assert isinstance(record["reads"], dict)
            record["key"], record["entry"], record["seconds"]
        except (ValueError, KeyError, AssertionError, TypeError) as error:
            raise Damaged(f"its cache record {path} is unreadable "
                          f"({type(error).__name__})") from None
        return record

    def check(self, example, record):
        """Raise ``Damaged`` unless every file the record lists is there
        with the content it had; return the entry's Run otherwise."""
        entry = self.base / "entries" / record["entry"]
        outputs = entry / "outputs"
        notebook = entry / "gallery" / f"{example.name}.ipynb"
        expected = dict(record["files"])
        expected[f"../gallery/{notebook.name}"] = record["notebook"]
        for rel, digest in sorted(expected.items()):
            path = (outputs / rel).resolve()
            if not path.is_file():
                raise Damaged(f"{rel.lstrip('./')} is missing from its cache "
                              "entry")
            if self.digest(path) != digest:
                raise Damaged(f"{rel.lstrip('./')} in its cache entry was "
                              "changed after the example wrote it")
        return Run(example, record["key"], record["seconds"], True,
                   outputs, notebook, sorted(record["files"]))

    def changed_reads(self, record):
        """The data files the example read that changed since (or None)."""
        changed = []
        for path, digest in sorted(record["reads"].items()):
            try:
                if self.digest(path) != digest:
                    changed.append(path)
            except OSError:
                changed.append(path)
        return changed

    def times(self):
        try:
            times = json.loads((self.base / "times.json").read_text("utf-8"))
            return {k: float(v) for k, v in times.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def save_time(self, name, seconds):
        times = self.times()
        times[name] = round(seconds, 3)
        write_atomically(self.base / "times.json",
                         json.dumps(times, indent=2, sort_keys=True) + "\n")

    def new_entry(self, name):
        entry = self.base / "entries" / f"{name}.{secrets.token_hex(6)}"
        for sub in ("outputs", "gallery", "work/cwd", "work/tmp"):
            (entry / sub).mkdir(parents=True)
        return entry

    def commit(self, example, key, entry, seconds, reads):
        """Make ``entry`` the example's result: hash what it holds, write
        the record (atomically, last), then drop the old entry."""
        outputs = entry / "outputs"
        files = {p.relative_to(outputs).as_posix(): file_digest(p)
                 for p in sorted(outputs.rglob("*")) if p.is_file()}
        notebook = entry / "gallery" / f"{example.name}.ipynb"
        try:
            old = self.read_record(example.name)
        except Damaged:
            old = None
        record = {"version": RECORD_VERSION, "key": key,
                  "entry": entry.name, "seconds": round(seconds, 3),
                  "files": files, "notebook": file_digest(notebook),
                  "reads": {p: file_digest(p) for p in sorted(reads)
                            if os.path.isfile(p)}}
        write_atomically(self.record_path(example.name),
                         json.dumps(record, indent=2) + "\n")
        self.save_time(example.name, seconds)
        if old and old["entry"] != entry.name:
            shutil.rmtree(self.base / "entries" / old["entry"],
                          ignore_errors=True)
        return Run(example, key, seconds, False, outputs, notebook,
                   sorted(files))

    def clean(self, names):
        """Remove entries no record names (left by an interrupted or
        failed run) and records of examples that no longer exist."""
        entries = self.base / "entries"
        keep = set()
        for path in sorted((self.base / "records").glob("*.json")):
            if path.stem not in names:
                path.unlink()
                continue
            try:
                record = self.read_record(path.stem)
                keep.add(record["entry"])
            except Damaged:
                pass
        if entries.is_dir():
            for entry in entries.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)
        for stray in self.base.glob("**/.*.tmp"):
            stray.unlink(missing_ok=True)


# --- running --------------------------------------------------------------

class Runner:
    """Runs examples into a cache folder, one mode (fast or full) each."""

    def __init__(self, root, cache_dir, fast, cell_timeout=900, log=None,
                 warn=None, slow_imports=(), data_dir=None, start_first=(),
                 preload=()):
        self.root = Path(root).resolve()
        self.fast = fast
        self.cache = Cache(cache_dir, fast)
        self.base = self.cache.base
        self.cell_timeout = cell_timeout
        self.log = log or (lambda message: None)
        self.warn = warn or self.log
        self.slow_imports = [self.root / p for p in slow_imports]
        self.start_first = list(start_first)
        self.preload = list(preload)
        self._server = None  # warm kernels while examples run
        self.data_dir = data_dir
        self._versions = None
        self._running = {}  # name -> kernel.Execution
        self._interrupted = threading.Event()

    def key(self, example):
        if self._versions is None:
            self._versions = package_versions()
        extra = {"data_dir": str(self.data_dir) if self.data_dir else None}
        return cache_key(example, self.root, self.fast, self._versions, extra)

    def lock(self):
        return self.cache.lock(self.log)

    def status(self, example):
        """``(run, reason)``: the cached Run (None if there is none usable)
        and why it cannot be served as current ("" if it can)."""
        try:
            record = self.cache.read_record(example.name)
            if record is None:
                return None, "it has never run in this mode"
            run = self.cache.check(example, record)
        except Damaged as damage:
            return None, f"{damage}"
        if record["key"] != self.key(example):
            run.stale = ("its code, a module it imports or a package "
                         "version changed since it ran")
            return run, run.stale
        changed = self.cache.changed_reads(record)
        if changed:
            run.stale = f"data it read changed since it ran ({changed[0]})"
            return run, run.stale
        return run, ""

    def cached(self, example):
        """The usable cached Run (possibly stale), or None."""
        return self.status(example)[0]

    def run(self, example, force=False):
        """Return the example's Run, executing it only if needed."""
        return self.run_all([example], force=force)[example.name]

    def run_all(self, examples, jobs=1, force=False, only=None,
                keep_going=False):
        """Runs of all ``examples`` (a dict by name, in their order).

        An example runs when its cached result is missing, damaged or not
        current, or when ``force`` (True, or a function of the name) says
        so; ``only`` (a function of the name), if given, limits which
        examples may run at all. Stale examples run ``jobs`` at a time,
        the longest first (by their last measured time; with none, those
        that import one of ``slow_imports`` first); then the examples that
        measure time run one by one, alone. The first failure stops new
        runs and is raised once the running ones end; with ``keep_going``
        every example runs, and the failures are left in ``self.errors``
        (by name) instead. Ctrl-C stops the running kernels at once and
        raises ``Interrupted``.
        """
        force = force if callable(force) else (lambda name, f=force: f)
        only = only or (lambda name: True)
        self.cache.clean({e.name for e in examples})
        times = self.cache.times()
        runs, todo, unrunnable = {}, [], []
        for example in examples:
            run, reason = self.status(example)
            if run and not reason and not force(example.name):
                runs[example.name] = run
            elif not only(example.name):
                if run is None:
                    error = ExampleError(
                        f"{example.name} is not selected to run and has no "
                        f"cached result ({reason})", example)
                    if not keep_going:
                        raise error
                    unrunnable.append(error)
                    continue
                runs[example.name] = run
            else:
                if reason and run is None and "never run" not in reason:
                    # Healed by running again: worth saying, not failing.
                    self.log(f"example {example.name}: {reason}; running "
                             "it again")
                todo.append(example)

        def expected(example):
            """Seconds it will take, as far as is known: its last time;
            with none, the configured order, then its imports."""
            if example.name in times:
                return times[example.name]
            for rank, pattern in enumerate(self.start_first):
                if fnmatch.fnmatchcase(example.name, pattern):
                    return 1e9 - rank
            imports = {p.resolve() for p in local_imports(
                example.path, [self.root, example.path.parent])}
            slow = any(p.resolve() in imports for p in self.slow_imports)
            return 1e6 if slow else 0.0

        todo.sort(key=lambda e: -expected(e))  # stable: ties keep order
        shared = [e for e in todo if not e.measures_time]
        alone = [e for e in todo if e.measures_time]
        # One thread each, always: examples running side by side do not
        # compete for cores, and every number is the same whatever the
        # machine's core count or DOCS_JOBS (float sums depend on how a
        # reduction is split between threads).
        threads = 1
        errors = list(unrunnable)
        self.errors = {}
        self._keep_going = keep_going
        self._interrupted.clear()
        start = time.perf_counter()
        with self._interrupt_handler(), self._warm_kernels(todo, threads):
            self._pool(shared, max(1, jobs), threads, runs, errors)
            for example in alone:
                self._pool([example], 1, threads, runs, errors)
        self.phase_seconds = time.perf_counter() - start
        if self._interrupted.is_set():
            raise Interrupted("interrupted: stopped the running examples; "
                              "the next build runs what did not finish")
        if errors and not keep_going:
            first = min(errors, key=lambda e: [x.name for x in examples]
                        .index(e.example.name))
            raise first
        self.errors = {e.example.name: e for e in errors}
        return {e.name: runs[e.name] for e in examples if e.name in runs}

    def _pool(self, examples, jobs, threads, runs, errors):
        if not examples or self._interrupted.is_set() or (
                errors and not self._keep_going):
            return
        queue = list(examples)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            pending = set()
            while queue or pending:
                while (queue and len(pending) < jobs
                       and not (errors and not self._keep_going)
                       and not self._interrupted.is_set()):
                    example = queue.pop(0)
                    pending.add(pool.submit(self._one, example, threads,
                                            runs, errors))
                if not pending:
                    break
                # A timeout, so that Ctrl-C is handled while waiting.
                done, pending = wait(pending, timeout=0.2,
                                     return_when=FIRST_COMPLETED)

    def _one(self, example, threads, runs, errors):
        try:
            runs[example.name] = self._execute(example, threads)
        except ExampleError as error:
            errors.append(error)
        except kernel.Stopped:
            if not self._interrupted.is_set():  # never silently lost
                errors.append(ExampleError(
                    f"example {example.path} was stopped before it ended",
                    example))
        except Exception as error:  # noqa: BLE001 - the build's own fault
            # A failure outside the example's cells (the cache, the
            # kernel's start) would otherwise vanish inside the thread.
            errors.append(ExampleError(
                f"example {example.path} could not run: "
                f"{type(error).__name__}: {error}\n"
                + "".join(traceback.format_exception(error)[-6:]), example))

    @contextmanager
    def _warm_kernels(self, todo, threads):
        """While examples run, their kernels fork from one process that
        imported ``preload`` once (see ``forkserver``)."""
        if not todo:
            yield
            return
        server = kernel.warm_kernels(self.fast, threads, self.root,
                                     self.data_dir, self.preload)
        with server:
            self._server = server
            try:
                yield
            finally:
                self._server = None
        if server.notes():
            self.log("warm kernels: " + server.notes().replace("\n", " | "))

    @contextmanager
    def _interrupt_handler(self):
        """While examples run: Ctrl-C kills every running kernel at once
        (a second Ctrl-C does nothing more), instead of waiting for the
        current cell."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self._interrupted.set()
            for execution in list(self._running.values()):
                execution.stop()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def stop_all(self):
        """Stop every running example (from another thread: serve's end)."""
        self._interrupted.set()
        for execution in list(self._running.values()):
            execution.stop()

    def _execute(self, example, threads):
        from nbclient.exceptions import CellExecutionError
        import nbformat

        from docs_plugin import standalone

        key = self.key(example)
        entry = self.cache.new_entry(example.name)
        work = entry / "work"
        reads_file = work / "reads.txt"
        # What a reader downloads, helpers inside; the page shows the
        # example's own cells.
        notebook, bundled = standalone.assemble(example, self.root)
        env = kernel.kernel_env(self.fast, threads, entry / "outputs",
                                reads_file, work / "tmp", self.root,
                                self.data_dir)
        writes = work / "writes.txt"
        data_dir = self.data_dir or self.root / "data"
        execution = kernel.Execution(
            notebook, work / "cwd", env, self.cell_timeout,
            kernel.exec_lines(
                kernel.watch_writes([entry / "outputs", work / "tmp",
                                     data_dir], writes),
                kernel.bundle_only(self.root)), self._server)
        self._running[example.name] = execution
        self.log(f"running {example.path.name}")
        start = time.perf_counter()
        try:
            if self._interrupted.is_set():
                raise kernel.Stopped()
            execution.run()
        except kernel.Stopped:
            shutil.rmtree(entry, ignore_errors=True)
            raise
        except CellExecutionError as error:
            shutil.rmtree(entry, ignore_errors=True)
            raise ExampleError(
                f"example {example.path} failed:\n"
                f"{kernel.strip_ansi(str(error))}", example,
                standalone.own_cells(notebook, bundled)) from None
        except Exception as error:  # timeout, dead kernel, ...
            shutil.rmtree(entry, ignore_errors=True)
            raise ExampleError(
                f"example {example.path} could not run: "
                f"{type(error).__name__}: {kernel.strip_ansi(str(error))}",
                example, standalone.own_cells(notebook, bundled)) from None
        finally:
            self._running.pop(example.name, None)
        seconds = time.perf_counter() - start
        outside = set()
        if writes.is_file():
            outside = set(writes.read_text(encoding="utf-8").split("\n"))
            outside.discard("")
        outside |= {str(p) for sub in ("cwd", "tmp")
                    for p in (work / sub).rglob("*") if p.is_file()}
        if outside:
            self.warn(f"example {example.name} wrote outside its output "
                      "folder (use Report to write figures, tables and "
                      "values): " + ", ".join(sorted(outside)[:10]))
        reads = set()
        if reads_file.is_file():
            reads = set(reads_file.read_text(encoding="utf-8").split("\n"))
            reads.discard("")
        shutil.rmtree(work, ignore_errors=True)
        nbformat.write(standalone.own_cells(notebook, bundled),
                       entry / "gallery" / f"{example.name}.ipynb")
        return self.cache.commit(example, key, entry, seconds, reads)
