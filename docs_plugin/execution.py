"""The examples of one build, run: which may run (``DOCS_EXECUTE``,
``DOCS_ONLY``, ``DOCS_RERUN``), what the log says about each, and failures
turned into MkDocs errors (``mkdocs build``) or error cards (``mkdocs
serve``, which keeps going)."""

import logging

from mkdocs.exceptions import PluginError

from docs_plugin import settings
from docs_plugin.runner import ExampleError, Interrupted

log = logging.getLogger("mkdocs.plugins.examples")


def run_examples(state, serving, on_interrupt) -> None:
    """Fill ``state.runs`` and ``state.failures``; ``on_interrupt`` cleans
    up before a Ctrl-C ends the build in one line."""
    chosen = state.settings
    if not state.options.execute or not chosen.execute:
        def only(name):
            return False
    elif chosen.only:
        def only(name):
            return settings.matches(name, chosen.only)
    else:
        only = None
    try:
        runs = state.runner.run_all(
            state.examples, chosen.jobs, only=only,
            force=lambda name: settings.matches(name, chosen.rerun),
            keep_going=serving)
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
    state.failures = dict(state.runner.errors)
    for name, error in state.failures.items():
        log.error(f"{error}\n(serving on: the pages that use {name} "
                  "show this error until it is fixed)")
    for name, run in runs.items():
        how = "cached" if run.cached else "ran"
        log.info(f"example {name}: {how}, {run.seconds:.1f} s")
        if run.stale:
            log.warning(f"example {name}: serving an out-of-date result "
                        f"({run.stale}); it was not run because "
                        "DOCS_EXECUTE or DOCS_ONLY said not to")
