"""PyTorch's API names on the site, linked to PyTorch's documentation.

As sphinx-gallery links the names in its examples' code, every name of
torch or torchvision that the site's code blocks, notebooks and inline code
use links to the documentation of the versions the site pins:

- names are found in Python code by its tokens (``chains``: ``nn.BatchNorm2d``
  and ``torch.nn.functional.batch_norm`` alike, through the aliases the
  project's code imports, ``aliases``), and in inline code by its text;
- each name is resolved against the installed torch in a subprocess, once
  per name and version (``Inventory``; the build itself never imports
  torch), as a module, class, function or method, or not at all;
- its address follows where PyTorch's documentation puts it (``url``);
  a name it does not document (a private helper, a dtype) is not linked;
- the *PyTorch API index* lists every name with the pages and examples that
  use it, as sphinx-gallery's backreferences do.
"""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import sys
from pathlib import Path

from docs_plugin import syntax
from docs_plugin.cache import write_atomically
from docs_plugin.imports import parse

PAGE = "api.md"
TITLE = "PyTorch API index"
DOCS = "https://docs.pytorch.org/docs/{version}/"
VISION = "https://docs.pytorch.org/vision/{version}/"

# The aliases the project's code uses for modules (``import torch.nn as nn``
# and the like); ``aliases`` adds the names it imports from torch.
ALIASES = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional",
           "dist": "torch.distributed", "torchvision": "torchvision",
           "datasets": "torchvision.datasets"}
# Modules PyTorch documents on one page each, every function and class on
# it with an anchor (``autofunction``), not a page of its own.
ON_MODULE_PAGE = {
    "torch.distributed": "distributed.html",
    "torch.utils.data": "data.html",
    "torch.nn.init": "nn.init.html",
    "torch.testing": "testing.html",
    "torch.multiprocessing": "multiprocessing.html",
    "torch.amp": "amp.html",
    "torch.fx": "fx.html",
    "torch.random": "random.html",
}
# Module pages, for a module named on its own.
MODULE_PAGES = {
    "torch": "torch.html", "torch.nn": "nn.html",
    "torch.nn.functional": "nn.functional.html", "torch.optim": "optim.html",
    "torch.autograd": "autograd.html", "torch.func": "func.html",
    **ON_MODULE_PAGE,
}
# Names documented somewhere their module does not say: PyTorch's lists
# name some by the module that defines them (checked against the sources
# of its documentation, docs/source/*.md, in December 2026).
DOCUMENTED_AT = {
    "torch.inference_mode":
        "generated/torch.autograd.grad_mode.inference_mode.html",
    "torch.set_grad_enabled":
        "generated/torch.autograd.grad_mode.set_grad_enabled.html",
    "torch.nn.Flatten": "generated/torch.nn.modules.flatten.Flatten.html",
    "torch.nn.Unflatten":
        "generated/torch.nn.modules.flatten.Unflatten.html",
    "torch.Tensor": "tensors.html#torch.Tensor",
    "torch.autocast": "amp.html#torch.autocast",
    "torch.autograd.Function": "autograd.html#torch.autograd.Function",
    "torch.nn.Parameter": "generated/torch.nn.parameter.Parameter.html",
    "torch.nn.Buffer": "generated/torch.nn.parameter.Buffer.html",
    "torch.optim.swa_utils.update_bn":
        "optim.html#torch.optim.swa_utils.update_bn",
}
LINKED_KINDS = {"module", "class", "function", "method"}
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_INLINE = re.compile(r"^(" + _NAME.pattern + r")(?:\(.*\))?$")


def short_version(version: str | None) -> str:
    """``2.14.1`` -> ``2.14``, as PyTorch's documentation is kept."""
    return ".".join((version or "stable").split("+")[0].split(".")[:2])


def url(name: str, kind: str, versions: dict) -> str | None:
    """Where PyTorch's documentation of the pinned versions describes
    ``name`` (a ``kind`` from ``Inventory``), or None where it does not.

    >>> v = {"torch": "2.14.1", "torchvision": "0.29.1"}
    >>> url("torch.nn.BatchNorm2d", "class", v)
    'https://docs.pytorch.org/docs/2.14/generated/torch.nn.BatchNorm2d.html'
    >>> url("torch.nn.Module.eval", "method", v)  # doctest: +ELLIPSIS
    '.../generated/torch.nn.Module.html#torch.nn.Module.eval'
    >>> url("torch.distributed.all_reduce", "function", v)  # doctest: +ELLIPSIS
    '.../docs/2.14/distributed.html#torch.distributed.all_reduce'
    >>> url("torchvision.datasets.FashionMNIST", "class", v)
    'https://docs.pytorch.org/vision/0.29/generated/torchvision.datasets.FashionMNIST.html'
    >>> url("torch.float32", "other", v) is None
    True
    """
    if kind not in LINKED_KINDS or "._" in f".{name}":
        return None
    if name.startswith("torchvision"):
        base = VISION.format(version=short_version(versions["torchvision"]))
        if kind == "module":
            return None
        if name.startswith("torchvision.models."):
            return f"{base}models/generated/{name}.html"
        return f"{base}generated/{name}.html"
    base = DOCS.format(version=short_version(versions["torch"]))
    if name in DOCUMENTED_AT:
        return base + DOCUMENTED_AT[name]
    if kind == "module":
        return base + MODULE_PAGES[name] if name in MODULE_PAGES else None
    module = max((m for m in ON_MODULE_PAGE if name.startswith(m + ".")),
                 key=len, default=None)
    if module is not None:
        return f"{base}{ON_MODULE_PAGE[module]}#{name}"
    if kind == "method":
        owner = name.rpartition(".")[0]
        if owner == "torch.Tensor":
            return f"{base}generated/{name}.html"
        page = url(owner, "class", versions)
        return page and f"{page.partition('#')[0]}#{name}"
    return f"{base}generated/{name}.html"


# --- names in code and text -------------------------------------------------

def aliases(files) -> dict[str, str]:
    """``ALIASES`` and every name the Python ``files`` import from torch or
    torchvision (``from torch.utils.data import DataLoader``)."""
    found = dict(ALIASES)
    for path in files:
        tree = parse(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[0] in ("torch", "torchvision"):
                for alias in node.names:
                    found.setdefault(alias.asname or alias.name,
                                     f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name.split(".")[0] in (
                            "torch", "torchvision"):
                        found.setdefault(alias.asname, alias.name)
    return found


def expand(dotted: str, known: dict[str, str]) -> str | None:
    """The full name a dotted name of code means, through the aliases."""
    root, _, rest = dotted.partition(".")
    if root not in known:
        return None
    return known[root] + (f".{rest}" if rest else "")


def chains(code: str, known: dict[str, str]) -> list[str]:
    """The full names of the API chains (``nn.BatchNorm2d``) in Python
    ``code``, comments and strings aside.

    >>> chains("bn = nn.BatchNorm2d(3)  # nn.Linear\\nx = torch.randn(2)",
    ...        ALIASES)
    ['torch.nn.BatchNorm2d', 'torch.randn']
    """
    from pygments.lexers import PythonLexer
    from pygments.token import Name, Operator

    found, parts = [], []
    state = "start"  # "name": after a name; "dot": after a name and a dot;
    # "loose": after a dot that follows no name (``f().x``)

    def close():
        if parts:
            full = expand(".".join(parts), known)
            if full:
                found.append(full)
        parts.clear()

    namespace = ""  # an import's dotted module name, in several tokens
    for kind, text in PythonLexer().get_tokens(code):
        if kind in Name.Namespace:
            namespace += text
            continue
        if namespace:
            close()
            parts.extend(namespace.split("."))
            close()
            namespace, state = "", "start"
        if kind in Name and kind not in Name.Builtin.Pseudo:
            if state == "dot":
                parts.append(text)
            elif state != "loose":
                close()
                parts.append(text)
            state = "name" if state != "loose" else "start"
        elif kind in Operator and text == ".":
            state = "dot" if state == "name" else "loose"
        elif text.strip() or state != "name":
            close()
            state = "start"
    close()
    return found


def inline(text: str, known: dict[str, str]) -> str | None:
    """The full name an inline code span means, if it is one name
    (``nn.BatchNorm2d``, ``torch.no_grad()``, ``F.batch_norm(x, ...)``),
    or a bare name of ``torch.nn``'s (``BatchNorm2d``: the caller checks
    that torch.nn has it)."""
    match = _INLINE.match(text.strip())
    if not match:
        return None
    dotted = match.group(1)
    full = expand(dotted, known)
    if full is None and "." not in dotted and dotted[:1].isupper():
        full = f"torch.nn.{dotted}"
    return full


# --- resolving names against the installed torch ---------------------------

_RESOLVE = r"""
import importlib, inspect, json, sys, warnings
warnings.simplefilter("ignore")
kinds = {}
for name in json.load(sys.stdin):
    # from the top package down, as code reaches it: an attribute before
    # a submodule of the same name (torch.autograd.gradcheck, a function)
    parts, owner = name.split("."), None
    try:
        obj = importlib.import_module(parts[0])
    except Exception:
        obj = None
    for i, part in enumerate(parts[1:], 2):
        if obj is None:
            break
        owner, found = obj, getattr(obj, part, None)
        if found is None and inspect.ismodule(obj):
            try:
                found = importlib.import_module(".".join(parts[:i]))
            except Exception:
                found = None
        obj = found
    # a name re-exported one module up is documented there
    # (torchvision.ops.misc.FrozenBatchNorm2d is torchvision.ops')
    while obj is not None and len(parts) > 2 and not inspect.ismodule(obj):
        try:
            up = importlib.import_module(".".join(parts[:-2]))
        except Exception:
            break
        if getattr(up, parts[-1], None) is not obj:
            break
        parts = parts[:-2] + parts[-1:]
    if obj is None:
        kind = None
    elif inspect.ismodule(obj):
        kind = "module"
    elif inspect.isclass(obj):
        kind = "class"
    elif inspect.isclass(owner) and callable(obj):
        kind = "method"
    elif callable(obj):
        kind = "function"
    else:
        kind = "other"
    kinds[name] = [kind, ".".join(parts)]
json.dump(kinds, sys.stdout)
"""


class Inventory:
    """What each name is in the installed torch and torchvision (a kind,
    or None where there is no such name), kept in ``path`` per version;
    new names are resolved in one subprocess."""

    def __init__(self, path, versions, log=None):
        self.path = Path(path)
        self.versions = {k: versions.get(k) for k in ("torch", "torchvision")}
        self.kinds = {}
        if not self.path.is_file():
            return
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            intact = kept["digest"] == _digest(kept["kinds"]) and all(
                isinstance(v, list) and len(v) == 2
                for v in kept["kinds"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            intact = False
        if not intact:  # changed by hand, or cut short: looked up again
            (log or (lambda message: None))(
                f"{self.path} was damaged; PyTorch's API names are looked "
                "up again")
        elif kept.get("versions") == self.versions:
            self.kinds = dict(kept["kinds"])

    def resolve(self, names) -> None:
        new = sorted(set(names) - set(self.kinds))
        if not new:
            return
        result = subprocess.run(
            [sys.executable, "-c", _RESOLVE], input=json.dumps(new),
            capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError("could not look up PyTorch's API names: "
                               + (result.stderr.strip().splitlines()
                                  or ["no message"])[-1])
        self.kinds.update(json.loads(result.stdout))
        write_atomically(self.path, json.dumps(
            {"versions": self.versions, "kinds": self.kinds,
             "digest": _digest(self.kinds)}, sort_keys=True))

    def documented(self, name: str | None) -> tuple[str, str] | None:
        """``(name as documented, kind)`` of a name used, if PyTorch's
        documentation describes it."""
        kind, public = self.kinds.get(name) or (None, None)
        if kind is None or url(public, kind, self.versions) is None:
            return None
        return public, kind

    def url(self, name: str | None) -> str | None:
        found = self.documented(name)
        return found and url(found[0], found[1], self.versions)


def _digest(kinds) -> str:
    """The digest an intact inventory file keeps of its names."""
    import hashlib

    return hashlib.sha256(json.dumps(kinds, sort_keys=True).encode()
                          ).hexdigest()


# --- the names each page and example uses -----------------------------------

_FENCE = re.compile(r"^([ \t]*)(```|~~~)[ \t]*(?:\{[^}]*py|py)", re.I)
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def page_names(markdown: str, root: Path, known) -> list[str]:
    """The API names a page's Markdown uses: its inline code, its fenced
    Python, and the code it includes."""
    found = []
    text = "\n".join(line for line in markdown.splitlines()
                     if not _FENCE.match(line))
    text = re.sub(r"\[[^\]]*\]\([^)]*\)", "", text)  # links: linked already
    for match in _INLINE_CODE.finditer(text):
        name = inline(match.group(1), known)
        if name:
            found.append(name)
    for include in syntax.includes(markdown):
        path = root / include.path
        if path.suffix != ".py" or not path.is_file():
            continue
        source = path.read_text(encoding="utf-8")
        if include.section:
            lines = syntax.sections(source, str(path)).get(include.section)
            if lines is None:
                continue  # the page's own check names the missing section
            source = "\n".join(source.splitlines()[lines[0] - 1:lines[1]])
        found += chains(source, known)
    found += [n for block in _fenced_python(markdown)
              for n in chains(block, known)]
    return found


def _fenced_python(markdown: str) -> list[str]:
    blocks, current, fence = [], None, None
    for line in markdown.splitlines():
        if current is None:
            match = _FENCE.match(line)
            if match:
                current, fence = [], match.group(2)
        elif line.strip().startswith(fence):
            blocks.append("\n".join(current))
            current = None
        else:
            current.append(line)
    return blocks


# --- links in rendered HTML -------------------------------------------------

_SPAN_NAME = r'<span class="n[a-z]?">([A-Za-z_][\w.]*)</span>'
_SPAN_DOT = r'<span class="o">\.</span>'
_CHAIN = re.compile(r"(?<!" + _SPAN_DOT + r")" + _SPAN_NAME
                    + r"(?:" + _SPAN_DOT + _SPAN_NAME + r")*")
_CODE_OR_PRE = re.compile(
    r"<pre\b.*?</pre>|<a\b.*?</a>|<code>([^<]*)</code>", re.S)


def _link(href, inner, name):
    return (f'<a class="api-link" href="{html.escape(href)}" '
            f'title="{html.escape(name)} in the PyTorch documentation">'
            f"{inner}</a>")


def link_html(content: str, known, inventory: Inventory) -> str:
    """``content`` with every API name in code blocks and inline code
    linked to its documentation."""
    def in_code(match):
        spans = match.group(0)
        names = re.findall(_SPAN_NAME, spans)
        found = inventory.documented(expand(".".join(names), known))
        return _link(inventory.url(found[0]), spans, found[0]) if found \
            else spans

    def in_text(match):
        if match.group(0).startswith("<pre"):
            return re.sub(_CHAIN, in_code, match.group(0))
        if match.group(1) is None:
            return match.group(0)  # inside a link already
        found = inventory.documented(
            inline(html.unescape(match.group(1)), known))
        return _link(inventory.url(found[0]), match.group(0), found[0]) \
            if found else match.group(0)

    return _CODE_OR_PRE.sub(in_text, content)


# --- the site's names, and the index page ----------------------------------

class SiteNames:
    """Every API name the site uses: by page and by example, resolved."""

    def __init__(self, state, files):
        root = state.root
        code = [e.path for e in state.examples] + sorted(
            (root / "snippets").rglob("*.py"))
        self.known = aliases(code)
        self.by_page, self.by_example = {}, {}
        for file in files.documentation_pages():
            if file.src_uri.endswith(".md") and not file.generated_by:
                self.by_page[file.src_uri] = page_names(
                    file.content_string, root, self.known)
        for example in state.examples:
            source = example.path.read_text(encoding="utf-8")
            self.by_example[example.name] = chains(source, self.known) + [
                n for n in (inline(m.group(1), self.known)
                            for m in _INLINE_CODE.finditer(source)) if n]
        from docs_plugin.keys import package_versions

        self.inventory = Inventory(state.runner.base / "api-names.json",
                                   package_versions(), state.runner.log)
        used = {n for names in (*self.by_page.values(),
                                *self.by_example.values()) for n in names}
        self.inventory.resolve(used)
        # the index names each as documented, and links those names too
        self.inventory.resolve(self.kinds())

    def documented(self, names) -> set[str]:
        """The documented names among ``names`` (as documented)."""
        return {found[0] for n in names
                if (found := self.inventory.documented(n))}

    def kinds(self) -> dict[str, str]:
        """``{name as documented: kind}`` of every name the site uses."""
        return dict(sorted(
            found for n in {n for names in (*self.by_page.values(),
                                            *self.by_example.values())
                            for n in names}
            if (found := self.inventory.documented(n))))

    def link(self, content: str) -> str:
        return link_html(content, self.known, self.inventory)


def index_page(names: SiteNames, titles: dict[str, str],
               example_titles: dict[str, str], page_url) -> str:
    """The *PyTorch API index*: each documented name the site uses, with
    the pages and examples that use it."""
    versions = names.inventory.versions
    lines = [
        # search finds each name on the pages that explain it
        "---", "hide:", "  - toc", "search:", "  exclude: true", "---", "",
        f"# {TITLE}", "",
        "Every name of PyTorch's API that this site's text, code blocks "
        "and examples use, with the pages and examples that use it. Each "
        "name links to the documentation of the versions the site was "
        f"built with (torch {short_version(versions['torch'])}, "
        f"torchvision {short_version(versions['torchvision'])}), as does "
        "every use of it on the site.", "",
        "| Name | Kind | Pages | Examples |", "| --- | --- | --- | --- |"]
    pages = {uri: names.documented(found)
             for uri, found in names.by_page.items()}
    examples = {e: names.documented(found)
                for e, found in names.by_example.items()}
    for name, kind in names.kinds().items():
        used_on = [f"[{titles.get(uri, uri)}]({uri})"
                   for uri, found in pages.items() if name in found]
        used_by = [f"[{example_titles[e]}]({page_url(e)})"
                   for e, found in examples.items() if name in found]
        lines.append(f"| `{name}` | {kind} | {', '.join(used_on) or '–'} | "
                     f"{', '.join(used_by) or '–'} |")
    return "\n".join(lines) + "\n"
