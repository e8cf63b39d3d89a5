"""The MkDocs plugin that turns ``examples/`` into figures, numbers and pages.

During ``mkdocs build`` or ``mkdocs serve`` it

1. runs every example at most once per build (``runner.Runner``, cached on
   the example, the local modules it imports and the package versions),
   ``$DOCS_JOBS`` at a time (default: one per core); an example that
   records timings runs alone;
2. serves what each example wrote under ``generated/<example>/`` (pages
   embed figures with ``![...](generated/<example>/<figure>.svg)`` and
   include tables with ``--8<-- "<example>/<table>.md"``);
3. replaces ``{{ <example>.<key> }}`` in page text with the value the
   example recorded, so no number on the site is typed by hand;
4. adds a gallery: one notebook page per example (rendered by
   mkdocs-jupyter from the executed notebook, with download links) and an
   index with thumbnails, plus an execution-times page;
5. serves KaTeX from ``node_modules`` so math renders offline.

Anything missing or failing stops the build with a message saying what and
where; nothing half-built is published.
"""

import json
import logging
import re
import time
from pathlib import Path

import nbformat
from mkdocs.config import config_options as opt
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File

from docs_plugin.runner import (ExampleError, Runner, discover, jobs_from_env,
                                to_notebook)

log = logging.getLogger("mkdocs.plugins.examples")

VALUE = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\.([A-Za-z_][\w]*)\s*\}\}")
# nbconvert's template loads MathJax and Mermaid from CDNs; KaTeX renders
# the notebooks' math instead, and the examples draw no Mermaid diagrams.
CDN_LOADERS = [
    re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
               re.S | re.I),
    re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid'
               r"(?:(?!</script>).)*</script>", re.S),
]
LIST_MARKER = re.compile(r"^(\s*\d+|\s*)([.)]|[-+*])(?=\s|$)")
INCLUDE = re.compile(r'^[ \t]*-{1,2}8<-{1,2}[ \t]+"([^"]+)"[ \t]*$', re.M)
GALLERY_NAV = "gallery/index.md"
KATEX_FILES = ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js"]


class ExamplesConfig(Config):
    examples_dir = opt.Type(str, default="examples")
    cache_dir = opt.Type(str, default=".cache/examples")
    execute = opt.Type(bool, default=True)
    cell_timeout = opt.Type(int, default=900)
    katex_dir = opt.Type(str, default="node_modules/katex/dist")


class ExamplesPlugin(BasePlugin[ExamplesConfig]):
    def on_config(self, config):
        from snippets.report import fast_mode

        self.root = Path(config.config_file_path).resolve().parent
        try:
            self.fast = fast_mode()
            self.jobs = jobs_from_env()
        except ValueError as error:
            raise PluginError(str(error)) from None
        examples_dir = self.root / self.config.examples_dir
        try:
            self.examples = discover(examples_dir)
        except ExampleError as error:
            raise PluginError(str(error)) from None
        self.runner = Runner(self.root, self.root / self.config.cache_dir,
                             self.fast, self.config.cell_timeout,
                             log=log.info)
        # Tables are included with pymdownx.snippets from the outputs.
        snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
        bases = snippets.get("base_path", ["."])
        bases = [bases] if isinstance(bases, str) else list(bases)
        snippets["base_path"] = bases + [str(self.runner.outputs_root)]
        for folder in (examples_dir, self.root / "snippets"):
            if str(folder) not in config.watch:
                config.watch.append(str(folder))
        config.nav = self._gallery_nav(config.nav)
        katex = self.root / self.config.katex_dir
        if not (katex / "katex.min.js").is_file():
            raise PluginError(
                f"KaTeX not found in {katex}: run `npm ci` (or `make setup`)"
                " so that math renders without a CDN")
        return config

    def _gallery_nav(self, nav):
        """Expand the nav entry for the gallery into one item per example."""
        pages = [GALLERY_NAV] + [
            {e.title: f"gallery/{e.name}.ipynb"} for e in self.examples]
        out = []
        for item in nav or []:
            if isinstance(item, dict) and list(item.values()) == [GALLERY_NAV]:
                item = {next(iter(item)): pages}
            out.append(item)
        return out

    # -- running -----------------------------------------------------------

    def _run_all(self):
        if self.config.execute:
            try:
                runs = self.runner.run_all(self.examples, self.jobs)
            except ExampleError as error:
                raise PluginError(str(error)) from None
        else:
            runs = {}
            for example in self.examples:
                runs[example.name] = self.runner.cached(example)
                if runs[example.name] is None:
                    raise PluginError(
                        f"execute is off but {example.name} has never run "
                        f"in {'fast' if self.fast else 'full'} mode: "
                        "build once with DOCS_EXECUTE=1")
        for name, run in runs.items():
            how = "cached" if run.cached else "ran"
            log.info(f"example {name}: {how}, {run.seconds:.1f} s")
        return runs

    def on_files(self, files, config):
        start = time.perf_counter()
        self.runs = self._run_all()
        self.values = {}
        for name, run in self.runs.items():
            for rel in run.files:
                if rel.endswith(".md"):
                    continue  # tables are included into pages, not pages
                files.append(File.generated(
                    config, f"generated/{name}/{rel}",
                    abs_src_path=str(run.outputs / rel)))
            self.values[name] = {}
            for filename in ("values.json", "timings.json"):
                path = run.outputs / filename
                if path.is_file():
                    self.values[name].update(
                        json.loads(path.read_text("utf-8")))
            example = run.example
            # A plain File, not File.generated: mkdocs-jupyter wraps it and
            # the wrapper only finds the path through src_dir.
            files.append(File(
                f"gallery/{name}.ipynb", src_dir=str(self.runner.base),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls))
            files.append(File.generated(
                config, f"downloads/{name}.py",
                abs_src_path=str(example.path)))
            files.append(File.generated(
                config, f"downloads/{name}.ipynb",
                content=nbformat.writes(to_notebook(example.path))))
        files.append(File.generated(config, GALLERY_NAV,
                                    content=self._gallery_index()))
        overhead = time.perf_counter() - start - sum(
            r.seconds for r in self.runs.values() if not r.cached)
        files.append(File.generated(config, "timings.md",
                                    content=self._timings(overhead)))
        katex = self.root / self.config.katex_dir
        for path in sorted(katex.rglob("*")):
            rel = path.relative_to(katex).as_posix()
            if rel in KATEX_FILES or rel.startswith("fonts/"):
                files.append(File.generated(
                    config, f"assets/katex/{rel}", abs_src_path=str(path)))
        return files

    # -- generated pages ---------------------------------------------------

    def _thumbnail(self, run):
        figures = [f for f in run.files if f.endswith(".svg")]
        return figures[0] if figures else None

    def _gallery_index(self):
        lines = [
            "# Gallery", "",
            "Every example on this site, each one concept in one script. "
            "Each runs on its own with `python examples/<name>.py` (see the "
            "README), and each page below shows the code with the output "
            "it produced when this site was built.", "",
            '<div class="grid cards" markdown>', ""]
        for name, run in self.runs.items():
            example = run.example
            thumb = self._thumbnail(run)
            lines.append(f"-   **[{example.title}]({name}.ipynb)**")
            lines.append("")
            if thumb:
                lines.append(f"    [![{example.title}]"
                             f"(../generated/{name}/{thumb})]({name}.ipynb)")
                lines.append("")
            lines.append(f"    {example.summary}")
            lines.append("")
        lines += ["</div>", ""]
        return "\n".join(lines)

    def _timings(self, overhead):
        mode = "fast (`DOCS_FAST=1`)" if self.fast else "full size"
        total = sum(r.seconds for r in self.runs.values())
        fresh = [r for r in self.runs.values() if not r.cached]
        lines = [
            "# Execution times", "",
            f"How long each example took when it last ran, in {mode} mode, "
            "on the machine that built this site. *cache* means this build "
            "reused the result because neither the example, nor a module it "
            "imports, nor a package version changed.", "",
            "| Example | Time (s) | This build |",
            "| --- | ---: | --- |"]
        for name, run in sorted(self.runs.items(),
                                key=lambda item: -item[1].seconds):
            lines.append(f"| [{run.example.title}](gallery/{name}.ipynb) | "
                         f"{run.seconds:.1f} | "
                         f"{'cache' if run.cached else 'ran'} |")
        lines += ["", f"Total: {total:.1f} s over {len(self.runs)} examples; "
                  f"{len(fresh)} ran in this build, and running them took "
                  f"{overhead:.1f} s more than the examples themselves.", ""]
        return "\n".join(lines)

    # -- pages -------------------------------------------------------------

    def on_page_markdown(self, markdown, page, config, files):
        def value(match):
            name, key = match.groups()
            try:
                return self.values[name][key]
            except KeyError:
                known = ", ".join(sorted(self.values.get(name, {}))) or "none"
                raise PluginError(
                    f"{page.file.src_path}: no value {name}.{key} "
                    f"(values of {name}: {known})") from None

        self._check_includes(markdown, page, config)
        lines = []
        for line in markdown.split("\n"):
            starts_with_value = VALUE.match(line.lstrip()) is not None
            line = VALUE.sub(value, line)
            if starts_with_value:  # "32. Next" must not become a list item
                line = LIST_MARKER.sub(r"\1\\\2", line)
            lines.append(line)
        markdown = "\n".join(lines)
        if "{{" in markdown and not page.file.src_path.endswith(".ipynb"):
            line = markdown[:markdown.index("{{")].count("\n") + 1
            raise PluginError(f"{page.file.src_path}:{line}: malformed "
                              "value reference (use {{ example.key }})")
        return markdown

    def _check_includes(self, markdown, page, config):
        """Name the page, line and target of a broken include (pymdownx
        would only raise a bare traceback)."""
        bases = config.mdx_configs["pymdownx.snippets"]["base_path"]
        for match in INCLUDE.finditer(markdown):
            target, _, section = match.group(1).partition(":")
            line = markdown[:match.start()].count("\n") + 1
            where = f"{page.file.src_path}:{line}"
            found = [Path(b) / target for b in bases
                     if (Path(b) / target).is_file()]
            if not found:
                raise PluginError(f"{where}: included file {target} not "
                                  "found (a typo, or an example that did "
                                  "not write it?)")
            text = found[0].read_text(encoding="utf-8")
            if section and not section.isdigit() and not all(
                    f"[{tag}:{section}]" in text for tag in ("start", "end")):
                raise PluginError(f"{where}: section '{section}' not found "
                                  f"in {target}")

    def on_page_content(self, html, page, config, files):
        src = page.file.src_path
        if not (src.startswith("gallery/") and src.endswith(".ipynb")):
            return html
        name = Path(src).stem
        for loader in CDN_LOADERS:
            html = loader.sub("", html)
        run = self.runs[name]
        bar = (
            '<div class="example-downloads">'
            f'<a class="md-button" href="../../downloads/{name}.py" download>'
            "Download the script</a> "
            f'<a class="md-button" href="../../downloads/{name}.ipynb" '
            "download>Download the notebook</a>"
            f"<span>Ran in {run.seconds:.1f} s at build time; run it "
            f"yourself with <code>python examples/{name}.py</code>."
            "</span></div>")
        return bar + html
