"""Run ``mkdocs build`` in this process with a clock on each phase, and
print the phases as one JSON line on the last line of stdout.

    python benchmarks/phases.py build --strict -f mkdocs.yml -d DIR

Phases: ``config`` (loading mkdocs.yml and the plugins, ``on_config``),
``examples`` (the examples plugin's ``on_files``: cache checks, outputs,
downloads, generated pages), ``pages`` and ``gallery`` (reading, rewriting
and rendering the Markdown pages and the notebook pages), ``search`` (the
search plugin indexing every page and writing its index), ``writing``
(templates and files), and ``total``. Used by ``warm_build.py``.
"""

import json
import sys
import time
from collections import defaultdict

from mkdocs import plugins
from mkdocs.__main__ import cli
from mkdocs.commands import build
from mkdocs.config import base

spent = defaultdict(float)
start = time.perf_counter()


def clocked(phase_of, function):
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[phase_of(*args, **kwargs)] += time.perf_counter() - begin
    return wrapper


run_event = plugins.PluginCollection.run_event


def timed_event(self, name, *args, **kwargs):
    # each plugin's part of an event: search apart, the rest per event
    begin = time.perf_counter()
    result = run_event(self, name, *args, **kwargs)
    spent[f"event:{name}"] += time.perf_counter() - begin
    return result


def populate_phase(page, *args, **kwargs):
    return "gallery" if page.file.src_uri.endswith(".ipynb") else "pages"


def wrap_search():
    from material.plugins.search.plugin import SearchPlugin

    for name in ("on_page_context", "on_post_build", "on_config"):
        method = getattr(SearchPlugin, name)
        setattr(SearchPlugin, name, clocked(lambda *a, **k: "search",
                                            method))


def main():
    plugins.PluginCollection.run_event = timed_event
    build._populate_page = clocked(populate_phase, build._populate_page)
    build._build_page = clocked(lambda *a, **k: "build_page",
                                build._build_page)
    base.load_config = clocked(lambda *a, **k: "load_config",
                               base.load_config)
    wrap_search()
    try:
        cli(sys.argv[1:], standalone_mode=False)
    finally:
        total = time.perf_counter() - start
        events = {k[6:]: v for k, v in spent.items()
                  if k.startswith("event:")}
        phases = {
            "config": spent["load_config"] + events.get("config", 0)
            + events.get("startup", 0),
            "examples": events.get("files", 0),
            "pages": spent["pages"],
            "gallery": spent["gallery"],
            "search": spent["search"],
        }
        phases["writing"] = total - sum(phases.values())
        phases["total"] = total
        print(json.dumps({k: round(v, 3) for k, v in phases.items()}))


if __name__ == "__main__":
    main()
