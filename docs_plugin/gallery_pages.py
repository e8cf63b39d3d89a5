"""The HTML of each gallery page, as mkdocs-jupyter rendered it, finished:
no CDN loaders, the notebook stylesheet shared instead of inlined, a bar of
download buttons (and "Open in Colab"), and a card for a failed or
out-of-date example.
"""

import html
import re
from pathlib import Path

from docs_plugin import css_prune, stamps
from docs_plugin.background import Running

# nbconvert's template loads MathJax and Mermaid from CDNs; KaTeX renders
# the notebooks' math instead, and the examples draw no Mermaid diagrams.
CDN_LOADERS = [re.compile(pattern, re.S) for pattern in (
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
    r'<script type="module">(?:(?!</script>).)*?mermaid'
    r"(?:(?!</script>).)*</script>")]
STYLE_OPEN, STYLE_CLOSE = '<style type="text/css">', "</style>"
LIST_STYLE = re.compile(r"<style>\s*\['.*?</style>", re.S)
# mkdocs-jupyter repeats each code cell's code as plain text in a hidden
# div, which its copy button copies (by the div's id).
COPY_TEXT = re.compile(r'<div class="clipboard-copy-txt" id="([^"]+)">'
                       r'[^<]*</div>')
NOTEBOOK_CSS = "assets/notebook.css"


def colab_url(repo_url: str | None, branch: str,
              name: str) -> str | None:
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


def split_styles(content: str) -> tuple[str, list[str]]:
    """``content`` without its ``<style type="text/css">`` blocks, and the
    blocks (found with ``str.find``: a regular expression took a tenth of
    a warm build on the 24 MB of 37 rendered notebooks).

    >>> split_styles('a<style type="text/css">x</style>b')
    ('ab', ['<style type="text/css">x</style>'])
    """
    kept, styles, at = [], [], 0
    while (start := content.find(STYLE_OPEN, at)) >= 0:
        end = content.find(STYLE_CLOSE, start)
        if end < 0:
            break
        end += len(STYLE_CLOSE)
        kept.append(content[at:start])
        styles.append(content[start:end])
        at = end
    kept.append(content[at:])
    return "".join(kept), styles


def code_once(content: str) -> str:
    """Each code cell's code once: the hidden plain copy is dropped, and
    its id moves to the highlighted ``<pre>`` before it, whose text the
    copy button then copies (the same characters). Search indexes the code
    once, and the page is lighter.

    >>> code_once('<pre><span>x</span> = 1</pre>'
    ...           '<div class="clipboard-copy-txt" id="cell-1">x = 1</div>')
    '<pre id="cell-1"><span>x</span> = 1</pre>'
    """
    out, last = [], 0
    for match in COPY_TEXT.finditer(content):
        chunk = content[last:match.start()]
        at = chunk.rfind("<pre>")
        if at < 0:
            chunk += match.group(0)  # no code before it: leave it
        else:
            chunk = (f'{chunk[:at]}<pre id="{match.group(1)}">'
                     f"{chunk[at + 5:]}")
        out.append(chunk)
        last = match.end()
    return "".join(out) + content[last:]


PRE = re.compile(r"(<pre[^>]*>)(.*?)(</pre>)", re.S)
TABLE = re.compile(r"<table\b.*?</table>", re.S)
PROMPT = re.compile(r'<div class="jp-(?:InputPrompt|OutputPrompt)[^"]*">'
                    r"[^<]*</div>")
SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
COPY_BUTTON = re.compile(r"<clipboard-copy\b.*?</clipboard-copy>", re.S)


def for_search(content: str) -> str:
    """What search indexes of a gallery page: its text, without prompts
    (``In [3]:``), copy buttons ("Copied!"), scripts or highlighting markup
    (tens of thousands of ``<span>`` a page, which made search the longest
    part of a warm build), code blocks or tables.

    >>> for_search('<div class="jp-InputPrompt jp-InputArea-prompt">In&nbsp;'
    ...            '[1]:</div><pre id="c"><span class="n">x</span> = 1</pre>'
    ...            '<p>Look at <code>x</code>.</p><script>copy()</script>')
    '<p>Look at <code>x</code>.</p>'
    """
    content = SCRIPT.sub("", PROMPT.sub("", COPY_BUTTON.sub("", content)))
    # Its code and what its cells printed or showed (numbers of one run,
    # not words to find) are left out: the teaching pages show the code
    # that matters, and search finds it there. Code was half of the
    # search index, which every page loads.
    return TABLE.sub("", PRE.sub("", content))


def finish(state, content, name, config) -> str:
    """The gallery page of example ``name``, finished (see module doc)."""
    # The notebook stylesheet (about 600 KB) is served once, shared by
    # every gallery page, instead of inlined into each.
    content, styles = split_styles(content)
    # mkdocs-jupyter's template writes the highlighting CSS as a Python
    # list's repr, which no browser can use (Material's colours apply).
    content = LIST_STYLE.sub("", content)
    for loader in CDN_LOADERS:
        content = loader.sub("", content)
    if state.notebook_css is None and styles:
        state.notebook_css = "\n".join(
            style[len(STYLE_OPEN):-len(STYLE_CLOSE)].strip()  # CSS only
            for style in dict.fromkeys(styles)
            if ".highlight-ipynb .hll" not in style)  # Material colours
    # Cell wrappers are no tab stops (hundreds a page); a code block that
    # scrolls gets one (scroll-focus.js).
    content = content.replace('class="jp-Cell-inputWrapper" tabindex="0"',
                              'class="jp-Cell-inputWrapper"')
    content = (f'<link rel="stylesheet" href="../../{NOTEBOOK_CSS}">'
               + code_once(content))
    state.notebook_classes |= css_prune.classes_in(content)
    if name in state.failures:
        error = state.failures[name]
        if isinstance(error, Running):
            return ('<div class="admonition info"><p class="admonition-'
                    f'title">Example {name} is running</p><p>'
                    f"{html.escape(str(error))}.</p></div>" + content)
        return ('<div class="admonition failure"><p class="admonition-'
                f'title">Example {name} failed</p><pre class="example-'
                f'error">{html.escape(str(error))}</pre>'
                "</div>" + content)
    run = state.runs[name]
    if run.running:
        content = ('<div class="admonition info"><p class="admonition-'
                   f'title">Example {name} is running again</p><p>These '
                   f"are its last outputs ({html.escape(run.stale)}); the "
                   "page reloads when the new run ends.</p></div>" + content)
    elif run.stale:
        content = ('<div class="admonition warning"><p class="admonition-'
                   f'title">Out-of-date results of {name}</p><p>These '
                   f"outputs are from an older run: {html.escape(run.stale)}"
                   ".</p></div>" + content)
    return _download_bar(state, run, name, config) + content


def _download_bar(state, run, name, config):
    buttons = [
        f'<a class="md-button" href="../../downloads/{name}.ipynb" '
        "download>Download the notebook</a>",
        f'<a class="md-button" href="../../downloads/{name}.py" download>'
        "Download the script</a>"]
    colab = colab_url(config.repo_url, state.options.colab_branch, name)
    if colab:
        buttons.append(f'<a class="md-button" href="{colab}">Open in '
                       "Colab</a>")
    return (
        '<div class="example-downloads" data-search-exclude>'
        + " ".join(buttons) +
        f"<span>Ran in {run.seconds:.1f} s when this site was built. "
        + (stamps.sentence([run.ran], "It") + " " if run.ran else "")
        + "The downloads run on their own, in an empty folder, with "
        "torch, torchvision and matplotlib installed.</span></div>")


def write_stylesheet(state, site_dir) -> None:
    """The notebook stylesheet, once; and its dark variant, for
    Material's slate scheme."""
    if not state.notebook_css:
        return
    import mkdocs_jupyter

    dark = (Path(mkdocs_jupyter.__file__).parent / "templates" /
            "mkdocs_html" / "assets" / "theme-dark.css").read_text(
                encoding="utf-8")
    dark = dark.replace(".jupyter-wrapper",
                        '[data-md-color-scheme="slate"] .jupyter-wrapper')
    # only the rules and properties the gallery pages can use: 580 KB
    # of JupyterLab's styles became 19 KB
    css = css_prune.without_unused_properties(css_prune.prune(
        state.notebook_css + "\n" + dark, state.notebook_classes))
    target = Path(site_dir) / NOTEBOOK_CSS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(css, encoding="utf-8")
