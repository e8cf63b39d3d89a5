"""The examples of one build, run: which may run (``DOCS_EXECUTE``,
``DOCS_ONLY``, ``DOCS_RERUN``), what the log says about each, and failures
turned into MkDocs errors (``mkdocs build``). Under ``mkdocs serve`` the
build only reads the cache and hands what must run to the background
(``background.py``); failures become error cards."""

import logging

from mkdocs.exceptions import PluginError

from docs_plugin import settings
from docs_plugin.background import BACKGROUND, SIGNALS, Running
from docs_plugin.runner import ExampleError, Interrupted, Runner

log = logging.getLogger("mkdocs.plugins.examples")


def _selection(state):
    """``only``: a function of an example's name saying whether it may
    run, or None (all may)."""
    chosen = state.settings
    if not state.options.execute or not chosen.execute:
        def only(name):
            return False
    elif chosen.only:
        def only(name):
            return settings.matches(name, chosen.only)
    else:
        only = None
    return only


def run_examples(state, serving, on_interrupt) -> None:
    """Fill ``state.runs`` and ``state.failures``; ``on_interrupt`` cleans
    up before a Ctrl-C ends the build in one line."""
    if serving:
        return serve_examples(state)
    chosen, only = state.settings, _selection(state)
    try:
        runs = state.runner.run_all(
            state.examples, chosen.jobs, only=only,
            force=lambda name: settings.matches(name, chosen.rerun),
            keep_going=False)
    except ExampleError as error:
        if only is not None and "not selected to run" in str(error):
            raise PluginError(
                f"{error}: build once with DOCS_EXECUTE=true (in "
                f"{chosen.mode} mode) or include it in DOCS_ONLY") from None
        raise PluginError(str(error)) from None
    except Interrupted as error:
        # One line, no traceback; nothing half-built is left behind.
        on_interrupt(error)
        log.error(str(error))
        raise SystemExit(130) from None
    state.runs = runs
    _log_runs(runs)


def _log_runs(runs):
    for name, run in runs.items():
        how = "cached" if run.cached else "ran"
        log.info(f"example {name}: {how}, {run.seconds:.1f} s")
        if run.running:
            log.info(f"example {name}: serving its last result while it "
                     f"runs again ({run.stale})")
        elif run.stale:
            log.warning(f"example {name}: serving an out-of-date result "
                        f"({run.stale}); it was not run because "
                        "DOCS_EXECUTE or DOCS_ONLY said not to")


def serve_examples(state) -> None:
    """Serving: serve what the cache holds, and run in the background what
    is missing or out of date (its pages say so, and reload when it
    ends)."""
    runner, chosen = state.runner, state.settings
    only = _selection(state) or (lambda name: True)
    todo = []
    for example in state.examples:
        name = example.name
        run, reason = runner.status(example)
        forced = settings.matches(name, chosen.rerun) and \
            name not in BACKGROUND.forced
        if run is not None and not reason and not forced:
            state.runs[name] = run
            continue
        if not only(name):
            if run is None:
                state.failures[name] = ExampleError(
                    f"{name} is not selected to run and has no cached "
                    f"result ({reason})", example)
            else:
                state.runs[name] = run  # out of date, with a card
            continue
        failed = BACKGROUND.failures.get(name)
        if failed and failed[0] == runner.key(example) and not forced:
            state.failures[name] = failed[1]  # until the example is edited
            log.error(f"{failed[1]}\n(serving on: the pages that use "
                      f"{name} show this error until it is fixed)")
            continue
        todo.append(example)
        if forced:
            BACKGROUND.forced.add(name)
        if run is None:
            state.failures[name] = Running(
                f"example {name} is running ({reason}); its results show "
                "when it ends (the page reloads)", example)
        else:
            run.stale, run.running = reason or "it runs again", True
            state.runs[name] = run
    _log_runs(state.runs)
    if todo:
        log.info("running in the background: "
                 + ", ".join(e.name for e in todo))
        BACKGROUND.submit(
            lambda: Runner(runner.root, runner.cache.base.parent,
                           runner.fast, runner.cell_timeout, log=runner.log,
                           warn=runner.warn,
                           slow_imports=runner.slow_imports,
                           start_first=runner.start_first,
                           preload=runner.preload,
                           data_dir=runner.data_dir),
            todo, chosen.jobs, runner.base / SIGNALS / "finished")
