"""Run examples, once, and keep their results in the cache.

A build asks the runner for every example's ``Run``: from the cache when
its record is intact (``cache.Cache.check``) and current (same key,
``keys.cache_key``; same data read), else by running it. Examples run
``jobs`` at a time, the longest first (by their last measured time; with
none, the configured order, then those importing a slow module); an
example that measures time runs alone afterwards. Each runs as its
self-contained notebook (``standalone``), in a kernel set up by
``kernel``; the notebook is written as the reader's downloads into the
entry first, so what readers download is what ran.
"""

import fnmatch
import shutil
import signal
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

from docs_plugin import kernel, sandbox, stamps, standalone
from docs_plugin.cache import Cache, Damaged, Run
from docs_plugin.examples import Example, ExampleError
from docs_plugin.imports import local_imports
from docs_plugin.keys import cache_key, package_versions

__all__ = ["ExampleError", "Interrupted", "Run", "Runner"]


class Interrupted(Exception):
    """The build was interrupted (Ctrl-C); running examples were stopped."""


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
        self._sandboxed = None  # whether Landlock is there, once asked
        self._home_caches = None  # kernel.home_caches, once asked

    def key(self, example: Example) -> str:
        if self._versions is None:
            self._versions = package_versions()
        # Not the data folder: the data an example read is checked by
        # content (cache.Cache.changed_reads), wherever it is.
        return cache_key(example, self.root, self.fast, self._versions)

    def lock(self):
        return self.cache.lock(self.log)

    def status(self, example: Example) -> tuple[Run | None, str]:
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
        changed = self.cache.changed_reads(record, self._data_dir())
        if changed:
            run.stale = f"data it read changed since it ran ({changed[0]})"
            return run, run.stale
        for warning in record["warnings"]:
            # not a good result: said again at every build until fixed
            self.warn(f"{warning} (when it last ran)")
        source = standalone.source_digest(example, self.root)
        if record["source"] != source:
            # Comments or docstrings of a helper changed: the result
            # stands, the downloads carry the new text.
            self.cache.refresh_downloads(
                run, record, lambda folder: standalone.write_downloads(
                    standalone.assemble(example, self.root).notebook,
                    folder), source)
        return run, ""

    def cached(self, example: Example) -> Run | None:
        """The usable cached Run (possibly stale), or None."""
        return self.status(example)[0]

    def run(self, example: Example, force=False) -> Run:
        """Return the example's Run, executing it only if needed."""
        return self.run_all([example], force=force)[example.name]

    def run_all(self, examples, jobs=1, force=False, only=None,
                keep_going=False) -> dict[str, Run]:
        """Runs of all ``examples`` (a dict by name, in their order).

        An example runs when its cached result is missing, damaged or not
        current, or when ``force`` (True, or a function of the name) says
        so; ``only`` (a function of the name), if given, limits which
        examples may run at all. Stale examples run ``jobs`` at a time,
        the longest first (``expected_seconds``); then the examples that measure
        time run one by one, alone. The first failure stops new runs and
        is raised once the running ones end; with ``keep_going`` every
        example runs, and the failures are left in ``self.errors`` (by
        name) instead. Ctrl-C stops the running kernels at once and raises
        ``Interrupted``.
        """
        force = force if callable(force) else (lambda name, f=force: f)
        self.cache.clean({e.name for e in examples})
        runs, todo, errors = self._sort_out(
            examples, force, only or (lambda name: True), keep_going)
        times = self.cache.times()
        todo.sort(key=lambda e: -expected_seconds(  # stable
            e, times, self.start_first, self.slow_imports, self.root))
        shared = [e for e in todo if not e.measures_time]
        alone = [e for e in todo if e.measures_time]
        # One thread each, always: examples running side by side do not
        # compete for cores, and every number is the same whatever the
        # machine's core count or DOCS_JOBS (float sums depend on how a
        # reduction is split between threads).
        threads = 1
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
            order = [x.name for x in examples]
            raise min(errors, key=lambda e: order.index(e.example.name))
        self.errors = {e.example.name: e for e in errors}
        return {e.name: runs[e.name] for e in examples if e.name in runs}

    def _sort_out(self, examples, force, only, keep_going):
        """``(runs, todo, errors)``: the cached runs to serve, the
        examples to run, and those that may not run and have no result."""
        runs, todo, errors = {}, [], []
        for example in examples:
            run, reason = self.status(example)
            if run and not reason and not force(example.name):
                runs[example.name] = run
            elif only(example.name):
                if reason and "never run" not in reason:
                    # Why it runs again (healed, if damaged): worth
                    # saying, not failing.
                    self.log(f"example {example.name}: {reason}; running "
                             "it again")
                todo.append(example)
            elif run is not None:
                runs[example.name] = run  # stale, served with a warning
            else:
                error = ExampleError(
                    f"{example.name} is not selected to run and has no "
                    f"cached result ({reason})", example)
                if not keep_going:
                    raise error
                errors.append(error)
        return runs, todo, errors

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
                                     self.data_dir, self.preload,
                                     self._caches())
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

    def stop_all(self) -> None:
        """Stop every running example (from another thread: the end of
        ``mkdocs serve``, ``background.Background.stop``)."""
        self._interrupted.set()
        for execution in list(self._running.values()):
            execution.stop()

    def _execute(self, example, threads) -> Run:
        import nbformat
        from nbclient.exceptions import CellExecutionError

        key = self.key(example)
        entry = self.cache.new_entry(example.name)
        work = entry / "work"
        reads_file = work / "reads.txt"
        # What a reader downloads, helpers inside, written before it runs;
        # the page shows the example's own cells.
        assembled = standalone.assemble(example, self.root)
        notebook, bundled = assembled.notebook, assembled.bundled
        standalone.write_downloads(notebook, entry)
        env = kernel.kernel_env(self.fast, threads, entry / "outputs",
                                reads_file, work / "tmp", self.root,
                                self.data_dir, self._caches())
        writes = work / "writes.txt"
        data_dir = self._data_dir()
        writable = kernel.writable_folders(
            [entry / "outputs", work / "tmp", data_dir,
             *self._caches().values()], work)
        execution = kernel.Execution(
            notebook, work / "cwd", env, self.cell_timeout,
            kernel.exec_lines(
                kernel.watch_files(writable, writes, data_dir, reads_file),
                *([sandbox.restrict_writes_code(writable)]
                  if self.sandboxed() else []),
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
            refused = sorted(_lines(writes))
            shutil.rmtree(entry, ignore_errors=True)
            if error.ename == "SystemExit":
                raise ExampleError(_exit_message(
                    example, "sys.exit()", f" ({error.ename}: "
                    f"{error.evalue})", _failed_cell(notebook), "an error"),
                    example, standalone.own_cells(notebook, bundled)) \
                    from None
            raise ExampleError(
                f"example {example.path} failed:\n"
                f"{kernel.strip_ansi(str(error))}"
                + _refused_writes(refused, str(error), self.sandboxed()),
                example, standalone.own_cells(notebook, bundled)) from None
        except kernel.AskedExit as error:
            shutil.rmtree(entry, ignore_errors=True)
            raise ExampleError(_exit_message(
                example, "exit()", "", error.args[0], "the end of the "
                "kernel: no later cell runs"),
                example, standalone.own_cells(notebook, bundled)) from None
        except Exception as error:  # timeout, dead kernel, ...
            shutil.rmtree(entry, ignore_errors=True)
            raise ExampleError(
                f"example {example.path} could not run: "
                f"{type(error).__name__}: {kernel.strip_ansi(str(error))}",
                example, standalone.own_cells(notebook, bundled)) from None
        finally:
            self._running.pop(example.name, None)
            strays = kernel.stop_strays(entry / "outputs")
        seconds = time.perf_counter() - start
        outside = _lines(writes) | {
            str(p) for sub in ("cwd", "tmp") for p in (work / sub).rglob("*")
            if p.is_file()}  # noted by the kernel, or left in its folders
        warnings = []
        if outside:
            # Under the sandbox, a write outside its folders was refused;
            # one in its working folder was made, and is gone with it.
            warnings.append(
                f"example {example.name} wrote, or tried to write, outside "
                "its output folder (use Report to write figures, tables and "
                "values): " + ", ".join(sorted(outside)[:10]))
        if strays:
            warnings.append(
                f"example {example.name} left processes running after it "
                f"ended, which the build stopped: {'; '.join(strays[:5])}. "
                "An example stops what it starts.")
        shown = standalone.own_cells(notebook, bundled)  # its gallery page
        warnings += _large_outputs(example.name, shown)
        warnings += _sets_threads(example.name, notebook, threads)
        for warning in warnings:
            self.warn(warning)
        reads = _lines(reads_file)
        shutil.rmtree(work, ignore_errors=True)
        nbformat.write(shown, entry / "gallery" / f"{example.name}.ipynb")
        return self.cache.commit(
            example, key, entry, seconds, reads, assembled.source, warnings,
            self._data_dir(), stamps.ran(self._versions, threads, self.fast))

    def _caches(self) -> dict[str, str]:
        """``kernel.home_caches``, worked out once."""
        if self._home_caches is None:
            self._home_caches = kernel.home_caches(self.base)
        return self._home_caches

    def _data_dir(self):
        return self.data_dir or self.root / "data"

    def sandboxed(self) -> bool:
        """Whether examples run in the read-only sandbox (``sandbox``);
        where Linux lacks Landlock, says once that only writes through
        Python's ``open`` are noticed."""
        if self._sandboxed is None:
            self._sandboxed = sandbox.landlock_abi() > 0
            if not self._sandboxed:
                self.log("this machine's Linux has no Landlock: examples "
                         "run without the read-only sandbox, and only "
                         "their writes through Python's open are noticed")
        return self._sandboxed


def _refused_writes(paths, error, sandboxed) -> str:
    """What to add to a failed example's message when the sandbox may be
    why it failed: the paths it tried to write outside its folders."""
    if paths:
        shown = ", ".join(paths[:10])
        return (f"\nIt tried to write outside its output folder: {shown}. "
                "Examples may write only in their output folder (use "
                "Report to write figures, tables and values) and their "
                "temporary folder.")
    if sandboxed and ("Permission denied" in error
                      or "PermissionError" in error):
        return ("\nExamples run where only their output folder, their "
                "temporary folder and the data folder can be written: "
                "a write anywhere else is refused.")
    return ""


# The most output one cell may show on its gallery page (its notebook
# JSON, images included): the largest figure of the site's examples is
# about 0.12 MB.
OUTPUT_LIMIT = 1_000_000


def _large_outputs(name, notebook, limit=OUTPUT_LIMIT) -> list[str]:
    """A warning for each code cell of ``notebook`` (an example's own
    cells, executed) whose outputs take more than ``limit`` bytes: all of
    it would be on the gallery page.

    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("print('x' * 200_000)")
    >>> cell.outputs = [nbformat.v4.new_output("stream", text="x" * 200_000)]
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> _large_outputs("e", nb, limit=300_000)
    []
    >>> print(_large_outputs("e", nb, limit=100_000)[0])
    ... # doctest: +ELLIPSIS
    example e shows 0.2 MB of output in cell 0 (print('x' * 200_000)), ...
    """
    import json

    warnings = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        size = len(json.dumps(cell.outputs))
        if size > limit:
            first = (cell.source.strip().splitlines() or [""])[0][:60]
            warnings.append(
                f"example {name} shows {size / 1e6:.1f} MB of output in cell "
                f"{number} ({first}), more than {limit / 1e6:g} MB: its "
                "gallery page would carry all of it. Show less (a summary, "
                "a table, a figure through Report).")
    return warnings


def _exit_message(example, call, detail, cell, means) -> str:
    """Why an example that ends itself with ``call`` fails the build."""
    return (f"example {example.path} calls {call}{detail} in this cell:\n"
            f"{cell}\nAn example is also a notebook (the build runs it as "
            f"one, and readers download it), where {call} is {means}: let "
            "the example end on its own, or raise an exception to make it "
            "fail.")


def _sets_threads(name, notebook, threads) -> list[str]:
    """A warning when the code of ``notebook`` (the example and the
    helpers it carries) sets torch's thread count, which the build sets
    and its pages state, to anything but the build's ``threads`` (a
    helper may set it in the processes it starts, as the build does).

    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("import torch\\n"
    ...                                  "torch.set_num_threads(64)")
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> print(_sets_threads("e", nb, 1)[0])  # doctest: +ELLIPSIS
    example e calls torch.set_num_threads: the build runs it on 1 thread...
    >>> cell.source = "torch.set_num_threads(1)"
    >>> _sets_threads("e", nb, 1)
    []
    """
    import ast

    calls = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython syntax: not ours to judge here
            continue
        calls |= {node.func.attr for node in ast.walk(tree)
                  if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "set_num_threads"
                  and not (len(node.args) == 1 and isinstance(
                      node.args[0], ast.Constant)
                      and node.args[0].value == threads)}
    count = "as many threads as torch takes" if threads is None else (
        f"{threads} thread" + ("" if threads == 1 else "s"))
    return [f"example {name} calls torch.{call}: the build runs it on "
            f"{count}, and its pages say so; leave the thread count to "
            "the build" for call in sorted(calls)]


def _failed_cell(notebook) -> str:
    """The code of the cell of an executed ``notebook`` that raised."""
    return next((cell.source for cell in notebook.cells
                 if any(output.output_type == "error"
                        for output in cell.get("outputs", []))), "")


def _lines(path):
    """The set of non-empty lines of a file the kernel appended to."""
    if not path.is_file():
        return set()
    return set(path.read_text(encoding="utf-8").split("\n")) - {""}


def expected_seconds(example, times, start_first, slow_imports, root):
    """How long ``example`` will take, as far as is known: its last time;
    with none, its place in ``start_first``, then whether it imports one
    of ``slow_imports``."""
    if example.name in times:
        return times[example.name]
    for rank, pattern in enumerate(start_first):
        if fnmatch.fnmatchcase(example.name, pattern):
            return 1e9 - rank
    imports = {p.resolve() for p in local_imports(
        example.path, [root, example.path.parent])}
    slow = any(p.resolve() in imports for p in slow_imports)
    return 1e6 if slow else 0.0
