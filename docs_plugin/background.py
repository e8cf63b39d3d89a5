"""Serving: the examples run outside MkDocs' build, so that the server
keeps answering while they run.

``mkdocs serve`` holds every request until a rebuild ends; an example that
runs inside the build (seconds to minutes) would hold the server that long.
Under ``serve`` the build only reads the cache: an example whose result is
missing or out of date is handed to the one ``Background`` job of the
process, and its pages show its last good result (or, for one that never
ran, a card) marked as running. When the job ends it touches a file the
server watches, and the rebuild that follows reads the new results (and
shows a failure, until the example is edited again).
"""

import logging
import threading
import time
from pathlib import Path

from docs_plugin.examples import ExampleError
from docs_plugin.runner import Interrupted

log = logging.getLogger("mkdocs.plugins.examples")
SIGNALS = "signals"  # the folder, in the cache, that serve watches


class Running(ExampleError):
    """An example running in the background, with no result to show yet."""


class Background:
    """The examples running in the background of this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._thread = None
        self._next = None  # the job to run after the current one
        self.running = set()  # names
        self.failures = {}  # name -> (key it failed with, ExampleError)
        self.forced = set()  # names DOCS_RERUN has run once already
        self._runner = None  # the runner of the job running now
        self._stopped = False

    def stop(self) -> None:
        """The server is stopping: stop the running examples now (their
        kernels are killed; nothing half-run is cached) and start no
        other."""
        with self._lock:
            self._stopped, self._next = True, None
            runner = self._runner
        if runner is not None:
            runner.stop_all()

    def submit(self, make_runner, examples, jobs, signal_file) -> None:
        """Run ``examples`` (with a runner from ``make_runner()``), then
        touch ``signal_file``; a job already running finishes first."""
        job = (make_runner, list(examples), jobs, Path(signal_file))
        with self._lock:
            names = {e.name for e in examples}
            if self._thread is not None and self._thread.is_alive():
                if not names <= self.running:
                    self._next = job
                return
            self.running = names
            self._thread = threading.Thread(target=self._work, args=(job,),
                                            name="examples", daemon=True)
            self._thread.start()

    def _work(self, job):
        while job is not None:
            make_runner, examples, jobs, signal_file = job
            runner = make_runner()
            runner.cache.shared = True  # builds read and write beside it
            with self._lock:
                if self._stopped:
                    return
                self._runner = runner
            try:
                with runner.lock():
                    runner.run_all(examples, jobs, keep_going=True)
                errors = runner.errors
            except Interrupted:
                return  # stopped: the server is going
            except Exception as error:  # noqa: BLE001 - reported, not lost
                errors = {e.name: ExampleError(
                    f"example {e.name} could not run: {error}", e)
                    for e in examples}
            with self._lock:
                self._runner = None
                if self._stopped:
                    return
                for example in examples:
                    self.failures.pop(example.name, None)
                for example in examples:
                    if example.name in errors:
                        self.failures[example.name] = (
                            runner.key(example), errors[example.name])
                job, self._next = self._next, None
                self.running = {e.name for e in job[1]} if job else set()
            signal_file.parent.mkdir(parents=True, exist_ok=True)
            signal_file.write_text(f"{time.time()}\n")  # serve rebuilds


BACKGROUND = Background()
