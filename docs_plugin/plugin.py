"""The MkDocs plugin that turns ``examples/`` into figures, numbers and pages.

During ``mkdocs build`` or ``mkdocs serve`` it

1. runs every example at most once per build (``runner.Runner``, cached on
   the example, the code of the local modules it imports, the package
   versions and the data it read), ``$DOCS_JOBS`` at a time; an example
   that records timings runs alone;
2. serves what each example wrote under ``generated/<example>/`` (pages
   embed figures with ``![...](generated/<example>/<figure>.svg)`` and
   include tables with ``--8<-- "<example>/<table>.md"``);
3. replaces ``{{ <example>.<key> }}`` in page text with the value the
   example recorded, so no number on the site is typed by hand;
4. adds a gallery: one notebook page per example (rendered by
   mkdocs-jupyter from the executed notebook, with download links) and an
   index with thumbnails, plus an execution-times page;
5. serves KaTeX from ``node_modules`` so math renders offline.

It knows nothing about the code the examples import: what it watches
follows from the examples' own imports, and what it starts first on a cold
cache comes from ``slow_imports`` in ``mkdocs.yml``. Every setting comes
from ``settings.py``. Anything missing or failing stops the build with a
message saying what and where; nothing half-built is published.
"""

import base64
import contextlib
import hashlib
import html
import importlib.util
import io
import json
import logging
import os
import posixpath
import re
import secrets
import shutil
from pathlib import Path

import nbformat
from PIL import Image
from mkdocs.config import config_options as opt
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File
from mkdocs.utils import CountHandler

from docs_plugin import downloads, settings, syntax
from docs_plugin.runner import (ExampleError, Interrupted, Runner, discover,
                                local_imports)

log = logging.getLogger("mkdocs.plugins.examples")

# nbconvert's template loads MathJax and Mermaid from CDNs; KaTeX renders
# the notebooks' math instead, and the examples draw no Mermaid diagrams.
CDN_LOADERS = [
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
    r'<script type="module">(?:(?!</script>).)*?mermaid'
    r"(?:(?!</script>).)*</script>",
]
STYLE = re.compile(r'<style type="text/css">.*?</style>', re.S)
GALLERY_NAV = "gallery/index.md"
ZIP = "downloads/bn-examples.zip"
CLAIMS_PAGE = "claims.md"
# Characters that would make a value Markdown instead of text.
ACTIVE = set("*|<>[]`")
KATEX_FILES = ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js"]
# The gallery's cards show each example's first figure at this width (twice
# a card's width, for sharp screens), as a PNG: the full-size SVGs of 37
# examples would make the gallery index weigh about 2 MB.
THUMBNAIL, THUMBNAIL_WIDTH = "thumbnail.png", 480


def shows_as_text(value):
    """Whether a page can show ``value`` (a string from values.json) as it
    is: no character Markdown or HTML would act on, and not empty, NaN,
    None or infinite.

    >>> [shows_as_text(v) for v in ["0.25", "12%", "x*y", "a|b", "nan", ""]]
    [True, True, False, False, False, False]
    """
    return not (ACTIVE & set(value) or value.strip() in (
        "", "nan", "NaN", "None", "inf", "-inf"))


def thumbnail(png):
    """A small copy of a figure's PNG: at most THUMBNAIL_WIDTH wide, on
    white (as the figures are shown), in 64 colours (a plot has few; the
    full palette of a resampled image would compress worse than the
    original)."""
    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGBA")
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A"))
    if flat.width > THUMBNAIL_WIDTH:
        flat = flat.resize(
            (THUMBNAIL_WIDTH,
             round(flat.height * THUMBNAIL_WIDTH / flat.width)),
            Image.Resampling.LANCZOS)
    out = io.BytesIO()
    flat.quantize(64).save(out, format="PNG", optimize=True)
    return out.getvalue()


class ExamplesConfig(Config):
    examples_dir = opt.Type(str, default="examples")
    cache_dir = opt.Type(str, default=".cache/examples")
    execute = opt.Type(bool, default=True)
    cell_timeout = opt.Type(int, default=900)
    katex_dir = opt.Type(str, default="node_modules/katex/dist")
    # With no measured times (a cold cache), examples importing one of
    # these (directly or not) are taken to be the long ones: they start
    # first, so that no long example starts last.
    slow_imports = opt.Type(list, default=[])
    # With no measured times, these examples (name patterns) start first,
    # in this order: the longest ones at full size.
    start_first = opt.Type(list, default=[])
    # Modules every example's kernel would import: imported once per build
    # by the process the kernels fork from (docs_plugin/forkserver.py).
    preload = opt.Type(list, default=[])
    # "Open in Colab" links (when repo_url is a GitHub repository) open the
    # notebooks from this branch, which the Pages workflow publishes.
    colab_branch = opt.Type(str, default="notebooks")


class ExamplesPlugin(BasePlugin[ExamplesConfig]):
    command = "build"

    def on_startup(self, *, command, dirty):
        self.command = command

    @property
    def serving(self):
        return self.command == "serve"

    def on_config(self, config):
        self.root = Path(config.config_file_path).resolve().parent
        if self.serving:
            # A forgiving serve: a failing example or a broken link shows
            # on its page and in the log, and the server keeps serving
            # (with `strict: true` mkdocs would stop answering until the
            # error is fixed). `mkdocs build` stays strict. mkdocs counts
            # warnings for strict mode with a handler it attached before
            # this event; detach it.
            config.strict = False
            logger = logging.getLogger("mkdocs")
            for handler in list(logger.handlers):
                if isinstance(handler, CountHandler):
                    logger.removeHandler(handler)
        else:
            # Write the site into a fresh folder beside the real one and
            # swap it in when the build succeeds (on_post_build): a failed
            # build leaves the last good site as it was.
            self.warnings = _Count()
            logging.getLogger("mkdocs").addHandler(self.warnings)
            self.site_dir = Path(config.site_dir).resolve()
            self.staging = self.site_dir.with_name(
                f".{self.site_dir.name}.building-{secrets.token_hex(4)}")
            config.site_dir = str(self.staging)
        try:
            self.settings = settings.Settings.from_env()
        except settings.SettingError as error:
            raise PluginError(str(error)) from None
        examples_dir = self.root / self.config.examples_dir
        try:
            self.examples = discover(examples_dir)
        except ExampleError as error:
            raise PluginError(str(error)) from None
        names = [e.name for e in self.examples]
        for variable, patterns in (("DOCS_ONLY", self.settings.only),
                                   ("DOCS_RERUN", self.settings.rerun)):
            for pattern in patterns:
                if not any(settings.matches(n, [pattern]) for n in names):
                    raise PluginError(
                        f"{variable}={pattern!r} matches no example in "
                        f"{self.config.examples_dir}/")
        for pattern in self.config.start_first:
            if not any(settings.matches(n, [pattern]) for n in names):
                raise PluginError(f"start_first in mkdocs.yml: {pattern!r} "
                                  "matches no example (renamed? removed?)")
        for module in self.config.preload:
            try:
                found = importlib.util.find_spec(module) is not None
            except ImportError:
                found = False
            if not found:
                raise PluginError(f"preload in mkdocs.yml: no module "
                                  f"{module!r} in this environment")
        cache_dir = self.settings.cache_dir or \
            self.root / self.config.cache_dir
        self.runner = Runner(
            self.root, cache_dir, self.settings.fast,
            self.config.cell_timeout, log=log.info, warn=log.warning,
            slow_imports=self.config.slow_imports,
            start_first=self.config.start_first,
            preload=self.config.preload,
            data_dir=self.settings.data_dir or self.root / "data")
        # Tables are included with pymdownx.snippets from the cache entries
        # (see _point_includes_at_entries).
        snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
        bases = snippets.get("base_path", ["."])
        bases = [bases] if isinstance(bases, str) else list(bases)
        snippets["base_path"] = bases + [str(self.runner.base / "entries")]
        # mkdocs-jupyter caches rendered notebooks; keep that with ours, per
        # mode, not in the checkout's .cache/.
        jupyter = config.plugins.get("mkdocs-jupyter")
        if jupyter is not None:
            jupyter.config["cache_dir"] = str(self.runner.base / "rendered")
        # Watch the examples and every local file they import.
        watched = {examples_dir}
        for example in self.examples:
            watched.update(p.parent for p in local_imports(
                example.path, [self.root, examples_dir]))
        for folder in sorted(str(f) for f in watched):
            if folder not in config.watch:
                config.watch.append(folder)
        config.nav = self._gallery_nav(config.nav, config.docs_dir)
        katex = self.root / self.config.katex_dir
        if not (katex / "katex.min.js").is_file():
            raise PluginError(
                f"KaTeX not found in {katex}: run `npm ci` (or `make setup`)"
                " so that math renders without a CDN")
        return config

    def _gallery_nav(self, nav, docs_dir):
        """Expand the nav entry for the gallery: the index, then one section
        per page (in nav order) with the examples that page uses first."""
        self.sections = self._sections(nav, docs_dir)
        pages = [GALLERY_NAV] + [
            {title: [{e.title: f"gallery/{e.name}.ipynb"} for e in examples]}
            for title, _, examples in self.sections]
        out = []
        for item in nav or []:
            if isinstance(item, dict) and list(item.values()) == [GALLERY_NAV]:
                item = {next(iter(item)): pages}
            out.append(item)
        return out

    def _sections(self, nav, docs_dir):
        """``[(title, page, [examples])]``: each example belongs to the
        first page in the navigation that shows its outputs or code; the
        others (none, normally) to a last section."""
        pages = []

        def walk(items):
            for item in items or []:
                if isinstance(item, dict):
                    title, target = next(iter(item.items()))
                    if isinstance(target, str):
                        pages.append((title, target))
                    else:
                        walk(target)
                elif isinstance(item, str):
                    pages.append((item, item))

        walk(nav)
        by_name = {e.name: e for e in self.examples}
        placed, sections = set(), []
        for title, page in pages:
            path = Path(docs_dir) / page
            if not page.endswith(".md") or not path.is_file():
                continue
            if page == "index.md":
                continue  # the home page's examples belong to later pages
            try:
                used = [n for n in self._examples_used_in(
                    path.read_text(encoding="utf-8"), page)
                    if n not in placed]
            except syntax.SyntaxProblem as error:
                raise PluginError(str(error)) from None
            if used:
                placed.update(used)
                sections.append((title, page, [by_name[n] for n in used]))
        rest = [e for e in self.examples if e.name not in placed]
        if rest:
            sections.append(("Other examples", None, rest))
        return sections

    def _examples_used_in(self, markdown, where="<page>"):
        """Examples whose outputs or code a page uses, in order of use."""
        known = {e.name for e in self.examples}
        names = [p.example for p in syntax.placeholders(markdown, where)]
        names += [name for name, _ in syntax.figures(markdown)]
        for include in syntax.includes(markdown):
            first, _, rest = include.path.partition("/")
            if first == self.config.examples_dir.strip("/"):
                names.append(Path(rest).stem)
            else:
                names.append(first)
        return [n for n in dict.fromkeys(names) if n in known]

    # -- running -----------------------------------------------------------

    def _run_all(self):
        chosen = self.settings
        mode = "fast" if chosen.fast else "full"
        if not self.config.execute or not chosen.execute:
            only = (lambda name: False)
        elif chosen.only:
            only = (lambda name: settings.matches(name, chosen.only))
        else:
            only = None
        try:
            runs = self.runner.run_all(
                self.examples, chosen.jobs, only=only,
                force=lambda name: settings.matches(name, chosen.rerun),
                keep_going=self.serving)
        except ExampleError as error:
            if only is not None and "not selected to run" in str(error):
                raise PluginError(
                    f"{error}: build once with DOCS_EXECUTE=true (in "
                    f"{mode} mode) or include it in DOCS_ONLY") from None
            raise PluginError(str(error)) from None
        except Interrupted as error:
            # One line, no traceback; nothing half-built is left behind.
            self.on_build_error(error)
            log.error(str(error))
            raise SystemExit(130) from None
        self.failures = dict(self.runner.errors)
        for name, error in self.failures.items():
            log.error(f"{error}\n(serving on: the pages that use {name} "
                      "show this error until it is fixed)")
        for name, run in runs.items():
            how = "cached" if run.cached else "ran"
            log.info(f"example {name}: {how}, {run.seconds:.1f} s")
            if run.stale:
                log.warning(f"example {name}: serving an out-of-date result "
                            f"({run.stale}); it was not run because "
                            "DOCS_EXECUTE or DOCS_ONLY said not to")
        return runs

    def on_files(self, files, config):
        # Hold the cache until the site is written: a second build in this
        # checkout waits, and cannot replace what this one publishes.
        self._release()
        self._held = contextlib.ExitStack()
        self._held.enter_context(self.runner.lock())
        self.runs = self._run_all()
        self.values, self.claims = {}, {}
        self._light_used = set()
        self.thumbnails = set()
        self.notebook_css = None
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
            path = run.outputs / "claims.json"
            self.claims[name] = json.loads(path.read_text("utf-8")) \
                if path.is_file() else {}
            example = run.example
            # A plain File, not File.generated: mkdocs-jupyter wraps it and
            # the wrapper only finds the path through src_dir.
            files.append(File(
                f"gallery/{name}.ipynb",
                src_dir=str(self._light_notebook(run, files, config)),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls))
            files.append(File.generated(
                config, f"downloads/{name}.py",
                content=downloads.script_text(example, self.root,
                                              config.site_url)))
            files.append(File.generated(
                config, f"downloads/{name}.ipynb",
                content=downloads.notebook_text(example, self.root,
                                                config.site_url)))
        light = self.runner.base / "light"
        for folder in light.iterdir() if light.is_dir() else []:
            if folder.name not in self._light_used:
                shutil.rmtree(folder, ignore_errors=True)
        for name, error in self.failures.items():
            # Serving only: the failed example's page shows its notebook up
            # to the failing cell, under an error card (on_page_content).
            failed = self.runner.base / "failed"
            notebook = failed / "gallery" / f"{name}.ipynb"
            notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(error.notebook or nbformat.v4.new_notebook(),
                           notebook)
            files.append(File(
                f"gallery/{name}.ipynb", src_dir=str(failed),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls))
        files.append(File.generated(
            config, ZIP, content=downloads.download_all(
                self.examples, self.root, config.site_url)))
        files.append(File.generated(config, GALLERY_NAV,
                                    content=self._gallery_index()))
        files.append(File.generated(config, "timings.md",
                                    content=self._timings()))
        self.stated = self._stated_claims(files)
        files.append(File.generated(config, CLAIMS_PAGE,
                                    content=self._claims_page(config)))
        katex = self.root / self.config.katex_dir
        for path in sorted(katex.rglob("*")):
            rel = path.relative_to(katex).as_posix()
            if rel in KATEX_FILES or rel.startswith("fonts/"):
                files.append(File.generated(
                    config, f"assets/katex/{rel}", abs_src_path=str(path)))
        return files

    def _light_notebook(self, run, files, config):
        """A copy of the executed notebook whose figures are files served
        beside the page, not base64 text inside it; returns the folder to
        serve it from (``<folder>/gallery/<name>.ipynb``)."""
        name = run.example.name
        digest = hashlib.sha256(run.notebook.read_bytes()).hexdigest()[:16]
        folder = self.runner.base / "light" / f"{name}.{digest}"
        self._light_used.add(folder.name)
        notebook = nbformat.read(run.notebook, as_version=4)
        count = 0
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" not in data:
                    continue
                count += 1
                rel = f"generated/{name}/notebook-{count}.png"
                png = base64.b64decode(data.pop("image/png"))
                files.append(File.generated(config, rel, content=png))
                if count == 1:  # the gallery's cards show a small copy
                    files.append(File.generated(
                        config, f"generated/{name}/{THUMBNAIL}",
                        content=thumbnail(png)))
                    self.thumbnails.add(name)
                data["text/html"] = (
                    f'<img src="../../{rel}" alt="Figure {count} of the '
                    f'example {name}">')
        target = folder / "gallery" / f"{name}.ipynb"
        text = nbformat.writes(notebook)
        if not target.is_file() or target.read_text("utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(".tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
        return folder

    def _release(self):
        held, self._held = getattr(self, "_held", None), None
        if held is not None:
            held.close()

    def on_post_build(self, config):
        self._release()
        self._write_notebook_css(config)
        if self.serving:
            return
        logging.getLogger("mkdocs").removeHandler(self.warnings)
        if config.strict and self.warnings.count:
            # mkdocs aborts a strict build with warnings after this event:
            # the site must not be published.
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        if self.staging.is_dir():
            old = self.site_dir.with_name(
                f".{self.site_dir.name}.old-{secrets.token_hex(4)}")
            if self.site_dir.exists():
                os.replace(self.site_dir, old)
            os.replace(self.staging, self.site_dir)
            shutil.rmtree(old, ignore_errors=True)
            config.site_dir = str(self.site_dir)

    def _write_notebook_css(self, config):
        """The notebook stylesheet, once; and its dark variant, for
        Material's slate scheme."""
        if not self.notebook_css:
            return
        import mkdocs_jupyter

        dark = (Path(mkdocs_jupyter.__file__).parent / "templates" /
                "mkdocs_html" / "assets" / "theme-dark.css").read_text(
                    encoding="utf-8")
        dark = dark.replace(".jupyter-wrapper",
                            '[data-md-color-scheme="slate"] .jupyter-wrapper')
        target = Path(config.site_dir) / "assets" / "notebook.css"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.notebook_css + "\n" + dark, encoding="utf-8")

    def on_build_error(self, error):
        self._release()
        if not self.serving:
            logging.getLogger("mkdocs").removeHandler(self.warnings)
            shutil.rmtree(self.staging, ignore_errors=True)

    # -- claims ------------------------------------------------------------

    def _stated_claims(self, files):
        """Every ``{{ claim example.name }}`` on the pages, with the
        sentence it marks. A claim a page states that no example evaluated,
        or one an example evaluated that no page states, is an error; in a
        full-size build so is a stated claim that does not hold."""
        stated, problems = [], []
        for file in files.documentation_pages():
            if not file.src_uri.endswith(".md") or file.generated_by:
                continue
            markdown = file.content_string
            where = file.src_uri
            try:
                found = syntax.placeholders(markdown, where)
            except syntax.SyntaxProblem as error:
                raise PluginError(str(error)) from None
            text = self._substitute_values(markdown, where, found)
            for placeholder in found:
                if placeholder.kind != "claim":
                    continue
                if placeholder.example in self.failures:
                    continue  # serving: its page shows the failure instead
                claim = self.claims.get(placeholder.example, {}).get(
                    placeholder.key)
                if claim is None:
                    problems.append(
                        f"{where}:{placeholder.line}: claim "
                        f"{placeholder.example}.{placeholder.key} is never "
                        f"evaluated (claims of {placeholder.example}: "
                        f"{', '.join(sorted(self.claims.get(placeholder.example, {}))) or 'none'})")
                    continue
                stated.append({
                    "page": file, "line": placeholder.line,
                    "example": placeholder.example, "name": placeholder.key,
                    "sentence": sentence_of(text, placeholder.line,
                                            placeholder.text),
                    **claim})
        used = {(c["example"], c["name"]) for c in stated}
        for example, claims in sorted(self.claims.items()):
            for name in sorted(claims):
                if (example, name) not in used:
                    problems.append(f"claim {example}.{name} is evaluated "
                                    "but no page states it")
        if problems:
            raise PluginError("\n".join(problems))
        false = [c for c in stated if not c["holds"]]
        for claim in false:
            message = (f"{claim['page'].src_uri}:{claim['line']}: claim "
                       f"{claim['example']}.{claim['name']} does not hold: "
                       f"\"{claim['sentence']}\" (example {claim['example']}:"
                       f" {evidence_text(claim['evidence'])})")
            if self.settings.fast:
                log.info(f"{message} [fast mode: reported, not enforced]")
            else:
                raise PluginError(message)
        return stated

    def _claims_page(self, config):
        held = sum(c["holds"] for c in self.stated)
        mode = ("fast mode (`DOCS_FAST=1`): claims are evaluated and "
                "reported, not enforced, and the small runs need not bear "
                "them out" if self.settings.fast else
                "full size: a claim that does not hold fails the build")
        lines = [
            "---", "hide:", "  - toc", "---", "",
            "# Claims checked", "",
            "Every sentence on this site whose truth depends on a run ends "
            "with a mark that links here. The example named next to it "
            "decides, from its own numbers, whether the sentence holds, "
            "and records the numbers it decided on. This site was built in "
            f"{mode}.", "",
            f"**{held} of {len(self.stated)} claims held in this build.**",
            "", "Comparisons across seeds follow one procedure, described "
            "in `snippets/support/compare.py`: a variant is *better* or "
            "*worse* only when every seed of it beats, or loses to, every "
            "seed of the other; otherwise the difference is *within "
            "seed-to-seed noise*.", ""]
        titles = {}
        for item in config.nav or []:
            if isinstance(item, dict):
                title, target = next(iter(item.items()))
                if isinstance(target, str):
                    titles[target] = title
        by_page = {}
        for claim in self.stated:
            by_page.setdefault(claim["page"].src_uri, []).append(claim)
        for page, claims in by_page.items():
            lines += [f"## {titles.get(page, page)}", "",
                      "| | Sentence | Checked by | Evidence |",
                      "| --- | --- | --- | --- |"]
            for c in claims:
                anchor = claim_anchor(c["example"], c["name"])
                mark = "✓" if c["holds"] else "✗"
                sentence = c["sentence"].replace("|", "\\|")
                lines.append(
                    f"| {mark} | {sentence} ([{page}]({page})) | "
                    f"`{c['example']}.{c['name']}`{{ #{anchor} }} in "
                    f"[{c['example']}](gallery/{c['example']}.ipynb) | "
                    f"{evidence_text(c['evidence']).replace('|', chr(92) + '|')} |")
            lines.append("")
        return "\n".join(lines)

    # -- generated pages ---------------------------------------------------

    def _thumbnail(self, run):
        if run.example.name in self.thumbnails:
            return THUMBNAIL
        figures = [f for f in run.files if f.endswith(".svg")]
        return figures[0] if figures else None

    def _card(self, example, base=""):
        """A grid card: thumbnail, title (both linking to the gallery page)
        and summary; ``base`` leads from the page to the site's root."""
        name = example.name
        link = f"{base}gallery/{name}.ipynb"
        lines = [f"-   **[{example.title}]({link})**", ""]
        run = self.runs.get(name)
        if name in self.failures:
            lines += ["    **This example failed in this build.**", ""]
        elif run and self._thumbnail(run):
            lines += [f"    [![{example.title}]({base}generated/{name}/"
                      f"{self._thumbnail(run)})]({link})", ""]
        return lines + [f"    {example.summary}", ""]

    def _gallery_index(self):
        lines = [
            "# Gallery", "",
            "Every example on this site, one concept each, grouped by the "
            "page that uses it. Each page below shows the code with the "
            "output it produced when this site was built, and offers it as "
            "a notebook and as a script that run on their own, in an empty "
            "folder, with only `torch`, `torchvision` and `matplotlib` "
            "installed.", "",
            f'[Download all examples (zip)](../{ZIP}){{ .md-button }}', ""]
        for title, page, examples in self.sections:
            lines += [f"## {title}", ""]
            if page:
                lines += [f"The examples of [{title}](../{page}).", ""]
            lines += ['<div class="grid cards" markdown>', ""]
            for example in examples:
                lines += self._card(example, "../")
            lines += ["</div>", ""]
        return "\n".join(lines)

    def _timings(self):
        mode = "fast (`DOCS_FAST=1`)" if self.settings.fast else "full size"
        fresh = [r for r in self.runs.values() if not r.cached]
        ran = sum(r.seconds for r in fresh)
        jobs = self.settings.jobs
        lines = [
            "# Execution times", "",
            f"How long each example took when it last ran, in {mode} mode, "
            "on the machine that built this site. *cache* means this build "
            "reused the last result, and the time shown is the one measured "
            "when it last ran, because neither the example, nor the code "
            "of a module it imports, nor a package version, nor the data "
            "it read changed since.", "",
            "| Example | Time (s) | This build |",
            "| --- | ---: | --- |"]
        for name, run in sorted(self.runs.items(),
                                key=lambda item: -item[1].seconds):
            how = "ran" if not run.cached else (
                "cache, out of date" if run.stale else "cache")
            lines.append(f"| [{run.example.title}](gallery/{name}.ipynb) | "
                         f"{run.seconds:.1f} | {how} |")
        lines.append("")
        if fresh:
            longest = max(r.seconds for r in fresh)
            ideal = max(longest, ran / jobs)
            lines += [
                f"This build ran {len(fresh)} of {len(self.runs)} examples, "
                f"{jobs} at a time. Their times add up to {ran:.1f} s; on "
                f"{jobs} cores no schedule can take less than "
                f"{ideal:.1f} s (the longer of the longest example and that "
                f"sum divided by {jobs}), and running them took "
                f"{self.runner.phase_seconds:.1f} s, "
                f"{self.runner.phase_seconds / ideal:.2f} times that.", ""]
        else:
            lines += [f"This build ran none of the {len(self.runs)} "
                      "examples: every result came from the cache.", ""]
        return "\n".join(lines)

    # -- pages -------------------------------------------------------------

    def on_page_markdown(self, markdown, page, config, files):
        where = page.file.src_path
        if where.endswith(".ipynb"):
            return markdown
        try:
            found = syntax.placeholders(markdown, where)
        except syntax.SyntaxProblem as error:
            raise PluginError(str(error)) from None
        used = self._examples_used(markdown, found)
        failed = [name for name in used if name in self.failures]
        stale = [name for name in used
                 if name in self.runs and self.runs[name].stale]
        if failed:
            markdown = self._without_failed(markdown, failed)
            found = syntax.placeholders(markdown, where)
        markdown = self._point_includes_at_entries(markdown, where, config)
        markdown = self._substitute_values(markdown, where, found)
        markdown = self._cards(failed, stale) + markdown
        markdown += self._mini_gallery(page)
        to_claims = posixpath.relpath(
            CLAIMS_PAGE, posixpath.dirname(page.file.src_uri) or ".")
        for placeholder in found:
            if placeholder.kind != "claim":
                continue
            claim = self.claims[placeholder.example][placeholder.key]
            anchor = claim_anchor(placeholder.example, placeholder.key)
            state = "held" if claim["holds"] else "did NOT hold"
            title = (f"Claim {placeholder.example}.{placeholder.key} {state} "
                     f"in this build: {evidence_text(claim['evidence'])}")
            title = title.replace("\\", "/").replace('"', "'")
            mark = (f'[{"✓" if claim["holds"] else "✗"}]'
                    f'({to_claims}#{anchor} "{title}")'
                    f'{{ .claim .claim-{"held" if claim["holds"] else "failed"} }}')
            markdown = markdown.replace(placeholder.text, mark, 1)
        return markdown

    def _mini_gallery(self, page):
        """The examples a page uses, as cards at its end (as
        sphinx-gallery's "examples using" blocks)."""
        if page.file.generated_by or page.file.src_uri.startswith("gallery/"):
            return ""
        names = self._examples_used_in(page.file.content_string,
                                       page.file.src_uri)
        if not names:
            return ""
        base = posixpath.relpath(".", posixpath.dirname(page.file.src_uri)
                                 or ".")
        base = "" if base == "." else base + "/"
        by_name = {e.name: e for e in self.examples}
        lines = ["", "", "## Examples on this page", "",
                 '<div class="grid cards" markdown>', ""]
        for name in names:
            lines += self._card(by_name[name], base)
        return "\n".join(lines + ["</div>", ""])

    def _examples_used(self, markdown, found):
        """Names of the examples whose outputs a page uses, in order."""
        names = [p.example for p in found]
        names += [name for name, _ in syntax.figures(markdown)]
        names += [i.path.partition("/")[0] for i in syntax.includes(markdown)]
        known = {e.name for e in self.examples}
        return [n for n in dict.fromkeys(names) if n in known]

    def _without_failed(self, markdown, failed):
        """Serving: a failed example's figures, tables, numbers and claims
        replaced by a short note (its card, at the top, says why)."""
        lines = markdown.split("\n")
        for include in syntax.includes(markdown):
            name = include.path.partition("/")[0]
            if name in failed:
                lines[include.line - 1] = (
                    f"{include.indent}*(table {include.path} missing: "
                    f"example {name} failed, see above)*")
        markdown = "\n".join(lines)
        for name in failed:
            markdown = re.sub(
                r"!\[[^\]]*\]\(generated/" + re.escape(name) + r"/[^)]*\)",
                f"*(figure missing: example {name} failed, see above)*",
                markdown)
            markdown = re.sub(
                r"\{\{\s*(?:claim\s+)?" + re.escape(name) + r"\.\w+\s*\}\}",
                "**⚠**", markdown)
        return markdown

    def _cards(self, failed, stale):
        """Admonitions at the top of a page: failed examples (serving) and
        out-of-date results (DOCS_EXECUTE=false or DOCS_ONLY)."""
        cards = []
        for name in failed:
            message = str(self.failures[name])
            cards += [f'!!! failure "Example {name} failed"',
                      "",
                      f"    The figures, tables and numbers of `{name}` on "
                      "this page are missing until it runs again. What it "
                      "reported:",
                      "",
                      '    <pre class="example-error">'
                      + html.escape(message).replace("\n", "&#10;")
                      + "</pre>", ""]
        for name in stale:
            cards += [f'!!! warning "Out-of-date results of {name}"', "",
                      f"    This page shows the last results of `{name}`, "
                      f"but {self.runs[name].stale}: it was not run again "
                      "because `DOCS_EXECUTE` or `DOCS_ONLY` said not to.",
                      ""]
        return "\n".join(cards) + ("\n" if cards else "")

    def _substitute_values(self, markdown, where, found):
        """``markdown`` with every ``{{ example.key }}`` replaced by its
        value (claims are left as they are)."""
        lines = markdown.split("\n")
        for placeholder in found:
            if placeholder.kind != "value":
                continue
            if placeholder.example in self.failures:
                line = lines[placeholder.line - 1]
                lines[placeholder.line - 1] = line.replace(
                    placeholder.text, "**⚠**", 1)
                continue
            try:
                value = self.values[placeholder.example][placeholder.key]
            except KeyError:
                known = ", ".join(sorted(self.values.get(
                    placeholder.example, {}))) or "none"
                raise PluginError(
                    f"{where}:{placeholder.line}: no value "
                    f"{placeholder.example}.{placeholder.key} (values of "
                    f"{placeholder.example}: {known})") from None
            if not shows_as_text(value):
                raise PluginError(
                    f"{where}:{placeholder.line}: value "
                    f"{placeholder.example}.{placeholder.key} is "
                    f"{value!r}, which a page cannot show as text")
            line = lines[placeholder.line - 1]
            at_start = line.lstrip().startswith(placeholder.text)
            line = line.replace(placeholder.text, value, 1)
            if at_start and value[:1].isdigit():
                # "32. Next" at a line start must not become a list item
                indent = len(line) - len(line.lstrip())
                digits = len(value) - len(value.lstrip("0123456789"))
                rest = line[indent + digits:]
                if rest[:1] in (".", ")"):
                    line = line[:indent + digits] + "\\" + rest
            lines[placeholder.line - 1] = line
        return "\n".join(lines)

    def _point_includes_at_entries(self, markdown, where, config):
        """Check every include (pymdownx would only raise a bare
        traceback) and point the ones of generated tables at the cache
        entry that holds them."""
        bases = config.mdx_configs["pymdownx.snippets"]["base_path"]
        lines = markdown.split("\n")
        for include in syntax.includes(markdown):
            at = f"{where}:{include.line}"
            first, _, rest = include.path.partition("/")
            if first in self.runs and rest:
                run = self.runs[first]
                target = run.outputs / rest
                if not target.is_file():
                    raise PluginError(
                        f"{at}: included file {include.path} not found: "
                        f"example {first} did not write {rest}")
                new = f"{run.outputs.parent.name}/outputs/{rest}"
                lines[include.line - 1] = lines[include.line - 1].replace(
                    include.path, new, 1)
                continue
            found = [Path(b) / include.path for b in bases
                     if (Path(b) / include.path).is_file()]
            if not found:
                raise PluginError(f"{at}: included file {include.path} not "
                                  "found")
            if include.section:
                try:
                    known = syntax.sections(
                        found[0].read_text(encoding="utf-8"), include.path)
                except syntax.SyntaxProblem as error:
                    raise PluginError(f"{at}: {error}") from None
                if include.section not in known:
                    raise PluginError(f"{at}: section '{include.section}' "
                                      f"not found in {include.path}")
        return "\n".join(lines)

    def on_page_content(self, content, page, config, files):
        src = page.file.src_path
        if not (src.startswith("gallery/") and src.endswith(".ipynb")):
            return content
        name = Path(src).stem
        for loader in CDN_LOADERS:
            content = re.sub(loader, "", content, flags=re.S | re.I)
        # The notebook stylesheet (about 600 KB) is served once, shared by
        # every gallery page, instead of inlined into each.
        styles = STYLE.findall(content)
        content = STYLE.sub("", content)
        if self.notebook_css is None and styles:
            self.notebook_css = "\n".join(
                style for style in dict.fromkeys(styles)
                if ".highlight-ipynb .hll" not in style)  # Material colours
        content = ('<link rel="stylesheet" href="../../assets/notebook.css">'
                   + content)
        if name in self.failures:
            return ('<div class="admonition failure"><p class="admonition-'
                    f'title">Example {name} failed</p><pre class="example-'
                    f'error">{html.escape(str(self.failures[name]))}</pre>'
                    "</div>" + content)
        run = self.runs[name]
        if run.stale:
            content = ('<div class="admonition warning"><p class="admonition-'
                       f'title">Out-of-date results of {name}</p><p>These '
                       f"outputs are from an older run: {html.escape(run.stale)}"
                       ".</p></div>" + content)
        buttons = [
            f'<a class="md-button" href="../../downloads/{name}.ipynb" '
            "download>Download the notebook</a>",
            f'<a class="md-button" href="../../downloads/{name}.py" download>'
            "Download the script</a>"]
        colab = colab_url(config.repo_url, self.config.colab_branch, name)
        if colab:
            buttons.append(f'<a class="md-button" href="{colab}">Open in '
                           "Colab</a>")
        bar = (
            '<div class="example-downloads">' + " ".join(buttons) +
            f"<span>Ran in {run.seconds:.1f} s when this site was built. "
            "The downloads run on their own, in an empty folder, with "
            "torch, torchvision and matplotlib installed.</span></div>")
        return bar + content


def colab_url(repo_url, branch, name):
    """Where Colab opens notebook ``name`` (None without a GitHub repo).

    >>> colab_url("https://github.com/me/bn/", "notebooks", "mlp")
    'https://colab.research.google.com/github/me/bn/blob/notebooks/mlp.ipynb'
    >>> colab_url(None, "notebooks", "mlp") is None
    True
    """
    match = re.match(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?$",
                     repo_url or "")
    if not match:
        return None
    owner, repo = match.groups()
    return (f"https://colab.research.google.com/github/{owner}/{repo}/blob/"
            f"{branch}/{name}.ipynb")


class _Count(logging.Handler):
    """Counts warnings and errors, as mkdocs does for --strict."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += 1


def claim_anchor(example, name):
    return f"claim-{example}-{name}".replace("_", "-")


def evidence_text(evidence):
    """``[[label, value], ...]`` as ``label value; label value``."""
    return "; ".join(f"{label}: {value}" for label, value in evidence)


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`*$\[])")


def sentence_of(markdown, line, marker):
    r"""The sentence that ``marker`` (on ``line``, 1-based) closes: its
    paragraph, joined into one line, cut at sentence ends.

    >>> text = "# T\n\nFirst one. The second\nholds {{ claim a.b }}. Third."
    >>> sentence_of(text, 4, "{{ claim a.b }}")
    'The second holds.'
    """
    lines = markdown.split("\n")
    start = end = line - 1
    while start > 0 and lines[start - 1].strip() and not lines[
            start - 1].lstrip().startswith(("#", "!!!", "???", "|", "```")):
        start -= 1
    while end + 1 < len(lines) and lines[end + 1].strip():
        end += 1
    paragraph = " ".join(re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", l).strip()
                         for l in lines[start:end + 1])
    before, _, _ = paragraph.partition(marker)
    # the sentence is what follows the last sentence end before the marker,
    # up to the marker (its full stop comes right after the marker)
    pieces = SENTENCE_END.split(before)
    sentence = pieces[-1].strip()
    after = paragraph[len(before) + len(marker):]
    stop = re.match(r"[.!?:;,)]*", after).group(0)
    sentence = re.sub(r"\{\{\s*claim\s+[\w.]+\s*\}\}", "", sentence)
    return (sentence + stop).strip()

