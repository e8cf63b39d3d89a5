"""The HTML of each gallery page, as mkdocs-jupyter rendered it, finished:
no CDN loaders, the notebook stylesheet shared instead of inlined, a bar of
download buttons (and "Open in Colab"), and a card for a failed or
out-of-date example.
"""

import html
import re
from pathlib import Path

# nbconvert's template loads MathJax and Mermaid from CDNs; KaTeX renders
# the notebooks' math instead, and the examples draw no Mermaid diagrams.
CDN_LOADERS = [
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
    r'<script type="module">(?:(?!</script>).)*?mermaid'
    r"(?:(?!</script>).)*</script>",
]
STYLE = re.compile(r'<style type="text/css">.*?</style>', re.S)
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


def finish(state, content, name, config) -> str:
    """The gallery page of example ``name``, finished (see module doc)."""
    for loader in CDN_LOADERS:
        content = re.sub(loader, "", content, flags=re.S | re.I)
    # The notebook stylesheet (about 600 KB) is served once, shared by
    # every gallery page, instead of inlined into each.
    styles = STYLE.findall(content)
    content = STYLE.sub("", content)
    if state.notebook_css is None and styles:
        state.notebook_css = "\n".join(
            style for style in dict.fromkeys(styles)
            if ".highlight-ipynb .hll" not in style)  # Material colours
    content = (f'<link rel="stylesheet" href="../../{NOTEBOOK_CSS}">'
               + content)
    if name in state.failures:
        return ('<div class="admonition failure"><p class="admonition-'
                f'title">Example {name} failed</p><pre class="example-'
                f'error">{html.escape(str(state.failures[name]))}</pre>'
                "</div>" + content)
    run = state.runs[name]
    if run.stale:
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
        '<div class="example-downloads">' + " ".join(buttons) +
        f"<span>Ran in {run.seconds:.1f} s when this site was built. "
        "The downloads run on their own, in an empty folder, with "
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
    target = Path(site_dir) / NOTEBOOK_CSS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(state.notebook_css + "\n" + dark, encoding="utf-8")
