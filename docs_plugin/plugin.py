"""The MkDocs plugin that turns ``examples/`` into figures, numbers and
pages: the hooks, each delegating to the module named for its job.

``on_config``  the build's state (``config.start``: settings, examples,
               options, the runner), the gallery in the navigation
               (``gallery``), the site staged (``staging``);
``on_files``   the examples run or served from the cache (``execution``,
               ``runner``), their files added (``outputs``), the zip
               (``downloads``), the generated pages: gallery index
               (``gallery``), execution times (``times``), claims checked
               (``claims``), and KaTeX (``assets``);
``on_page_markdown``  each page's syntax rewritten (``pages``);
``on_page_content``   each gallery page's HTML finished
                      (``gallery_pages``);
``on_post_build``     the site published (``staging``).

Anything missing or failing stops ``mkdocs build`` with a message saying
what and where; nothing half-built is published.
"""

import contextlib
import logging
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority
from mkdocs.structure.files import File

from docs_plugin import (
    api,
    assets,
    background,
    claims,
    downloads,
    execution,
    gallery,
    gallery_pages,
    images,
    imports,
    outputs,
    pages,
    rendered,
    times,
)
from docs_plugin import config as options
from docs_plugin.staging import Staging

log = logging.getLogger("mkdocs.plugins.examples")


class ExamplesPlugin(BasePlugin[options.ExamplesConfig]):
    command = "build"
    _held = None

    def on_startup(self, *, command, dirty):
        self.command = command

    @property
    def serving(self):
        return self.command == "serve"

    def on_config(self, config):
        self.staging = Staging(config, self.serving)
        root = Path(config.config_file_path).resolve().parent
        self.state = state = options.start(
            self.config, config, root, log, self.serving,
            None if self.serving else self.staging.site_dir)
        config.nav, state.sections = gallery.nav_with_gallery(
            config.nav, config.docs_dir, state.examples, state.code_dir)
        self.katex = root / self.config.katex_dir
        assets.check_katex(self.katex)
        return config

    def on_files(self, files, config):
        state = self.state
        # Hold the cache until the site is written: a second build in this
        # checkout waits, and cannot replace what this one publishes.
        # (Serving, builds only read it: the background job holds it.)
        self._release()
        self._held = contextlib.ExitStack()
        if not self.serving:
            self._held.enter_context(state.runner.lock())
        rendered.check(state.runner.base / "rendered")
        execution.run_examples(state, self.serving, self.on_build_error)
        outputs.register(state, files, config)
        notebooks = [(run.example, run.download_notebook.read_text("utf-8"))
                     for run in state.runs.values()]
        zipped = state.runner.cache.derived(
            "bn-examples.zip",
            downloads.zip_key(notebooks, state.root, config.site_url),
            lambda: downloads.download_all(notebooks, state.root,
                                           config.site_url), log.info)
        files.append(File.generated(config, gallery.ZIP,
                                    abs_src_path=str(zipped)))
        files.append(File.generated(config, gallery.INDEX,
                                    content=gallery.index_page(state)))
        files.append(File.generated(config, times.PAGE,
                                    content=times.page(state)))
        state.page_errors = {}

        def page_error(where, message):
            log.error(message)
            if where is not None:
                state.page_errors[where] = message

        state.stated = claims.collect(
            state, files, lambda *a: pages.substitute_values(state, *a),
            page_error if self.serving else None)
        files.append(File.generated(config, claims.PAGE,
                                    content=claims.page(state, config.nav)))
        state.api = api.SiteNames(state, files)
        files.append(File.generated(config, api.PAGE, content=api.index_page(
            state.api, dict((p, t) for t, p in gallery.nav_pages(config.nav)),
            {e.name: e.title for e in state.examples}, gallery.page_url)))
        assets.add_katex(files, config, self.katex)
        imports.save_memo()
        return files

    def on_page_markdown(self, markdown, page, config, files):
        if page.file.src_path.endswith(".ipynb"):
            return markdown
        # Serving, a page with an error shows it (MkDocs would stop
        # serving every page until it is fixed), and reloads when saved.
        found = self.state.page_errors.get(page.file.src_uri)
        if found is not None:
            return pages.error_page(page.title, found)
        try:
            return pages.rewrite(self.state, markdown, page, config)
        except PluginError as error:
            if not self.serving:
                raise
            log.error(str(error))
            return pages.error_page(page.title, str(error))

    def on_page_content(self, content, page, config, files):
        src = page.file.src_path
        if src.startswith("gallery/") and src.endswith(".ipynb"):
            content = gallery_pages.finish(self.state, content,
                                           Path(src).stem, config)
        content = images.with_sizes(content, page.url, lambda path: (
            (found := files.get_file_from_path(path)) and found.abs_src_path))
        return self.state.api.link(content)

    # Search indexes a lighter copy of each gallery page
    # (gallery_pages.for_search); the page itself is rendered as it was.
    @event_priority(50)  # before search's (0)
    def _search_view(self, context, page, config, nav):
        if page.file.src_path.endswith(".ipynb"):
            self._shown = page.content
            page.content = gallery_pages.for_search(page.content)
            # a name a teaching page explains is found there first: a
            # gallery heading holding the name (a title match, which counts
            # 1,000 times a text match) ranked above it at 0.5 and 0.02
            page.meta["search"] = {"boost": 0.001}
        return context

    @event_priority(-50)  # after search's, before the page is rendered
    def _page_view(self, context, page, config, nav):
        if page.file.src_path.endswith(".ipynb"):
            page.content = self._shown
        return context

    on_page_context = CombinedEvent(_search_view, _page_view)

    def on_post_build(self, config):
        # sealed under the cache lock: a build that takes the lock next
        # removes stray temporary files, the seal's among them
        rendered.seal(self.state.runner.base / "rendered")
        self._release()
        gallery_pages.write_stylesheet(self.state, config.site_dir)
        self.staging.publish(config)

    def on_build_error(self, error):
        self._release()
        staging = getattr(self, "staging", None)
        if staging is not None:
            staging.discard()

    def on_shutdown(self):
        background.BACKGROUND.stop()  # serving ends: no kernel left behind

    def _release(self):
        held, self._held = self._held, None
        if held is not None:
            held.close()
