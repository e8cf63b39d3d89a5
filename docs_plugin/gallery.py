"""The gallery: its place in the navigation, its index page of cards, and
the "Examples on this page" cards at the end of each page (as
sphinx-gallery's "examples using" blocks).

Each example belongs to the first page in the navigation that shows its
outputs or its code; the gallery has one section per such page, in
navigation order.
"""

import posixpath
from pathlib import Path

from mkdocs.exceptions import PluginError

from docs_plugin import syntax
from docs_plugin.outputs import THUMBNAIL

INDEX = "gallery/index.md"
ZIP = "downloads/bn-examples.zip"


def page_url(name: str) -> str:
    """The gallery page of example ``name``, from the site's root."""
    return f"gallery/{name}.ipynb"


def nav_with_gallery(nav, docs_dir, examples,
                     code_dir) -> tuple[list, list]:
    """``(nav, sections)``: the nav with its gallery entry expanded (the
    index, then one section per page with the examples that page uses
    first), and those sections, ``[(title, page, [examples])]``."""
    sections = _sections(nav, docs_dir, examples, code_dir)
    pages = [INDEX] + [
        {title: [{e.title: page_url(e.name)} for e in members]}
        for title, _, members in sections]
    out = []
    for item in nav or []:
        if isinstance(item, dict) and list(item.values()) == [INDEX]:
            item = {next(iter(item)): pages}
        out.append(item)
    return out, sections


def nav_pages(nav) -> list[tuple[str, str]]:
    """``[(title, path)]`` of every page in the navigation, in order."""
    pages = []
    for item in nav or []:
        if isinstance(item, dict):
            title, target = next(iter(item.items()))
            if isinstance(target, str):
                pages.append((title, target))
            else:
                pages += nav_pages(target)
        elif isinstance(item, str):
            pages.append((item, item))
    return pages


def _sections(nav, docs_dir, examples, code_dir):
    by_name = {e.name: e for e in examples}
    placed, sections = set(), []
    for title, page in nav_pages(nav):
        path = Path(docs_dir) / page
        if not page.endswith(".md") or not path.is_file():
            continue
        if page == "index.md":
            continue  # the home page's examples belong to later pages
        try:
            used = [n for n in syntax.examples_used(
                path.read_text(encoding="utf-8"), by_name, page, code_dir)
                if n not in placed]
        except syntax.SyntaxProblem as error:
            raise PluginError(str(error)) from None
        if used:
            placed.update(used)
            sections.append((title, page, [by_name[n] for n in used]))
    rest = [e for e in examples if e.name not in placed]
    if rest:
        sections.append(("Other examples", None, rest))
    return sections


def _card_image(state, name):
    run = state.runs.get(name)
    if run is None:
        return None
    if name in state.thumbnails:
        return THUMBNAIL
    figures = [f for f in run.files if f.endswith(".svg")]
    return figures[0] if figures else None


def card(state, example, base="") -> list[str]:
    """A grid card: thumbnail, title (both linking to the gallery page)
    and summary; ``base`` leads from the page to the site's root."""
    name = example.name
    link = f"{base}{page_url(name)}"
    lines = [f"-   **[{example.title}]({link})**", ""]
    image = _card_image(state, name)
    if name in state.failures:
        lines += ["    **This example failed in this build.**", ""]
    elif image:
        lines += [f"    [![{example.title}]({base}generated/{name}/"
                  f"{image})]({link})", ""]
    return lines + [f"    {example.summary}", ""]


def index_page(state) -> str:
    """The gallery's index: a section of cards per page."""
    lines = [
        "# Gallery", "",
        "Every example on this site, one concept each, grouped by the "
        "page that uses it. Each page below shows the code with the "
        "output it produced when this site was built, and offers it as "
        "a notebook and as a script that run on their own, in an empty "
        "folder, with only `torch`, `torchvision` and `matplotlib` "
        "installed.", "",
        f'[Download all examples (zip)](../{ZIP}){{ .md-button }}', ""]
    for title, page, examples in state.sections:
        lines += [f"## {title}", ""]
        if page:
            lines += [f"The examples of [{title}](../{page}).", ""]
        lines += ['<div class="grid cards" markdown>', ""]
        for example in examples:
            lines += card(state, example, "../")
        lines += ["</div>", ""]
    return "\n".join(lines)


def mini_gallery(state, page) -> str:
    """The examples a page uses, as cards at its end."""
    if page.file.generated_by or page.file.src_uri.startswith("gallery/"):
        return ""
    names = syntax.examples_used(page.file.content_string, state.by_name,
                                 page.file.src_uri, state.code_dir)
    if not names:
        return ""
    base = posixpath.relpath(".", posixpath.dirname(page.file.src_uri)
                             or ".")
    base = "" if base == "." else base + "/"
    lines = ["", "", "## Examples on this page", "",
             '<div class="grid cards" markdown>', ""]
    for name in names:
        lines += card(state, state.by_name[name], base)
    return "\n".join(lines + ["</div>", ""])
