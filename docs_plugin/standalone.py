"""The self-contained notebook of an example: the example's cells, with
the helper modules it imports from this repository (``snippets/``) carried
in cells of their own. The build assembles it once per run of the example
and keeps it with the cached result (``runner``); it executes exactly this
notebook, in a kernel that may import none of this repository's modules
from disk (``kernel.bundle_only``), and readers download that same copy:
what the site shows is what a reader's copy does.

The helpers an example imports are found by following its imports (as
for the cache key, ``imports.local_imports``). Each goes in as readable
source text, loaded by a small importer from that text: nothing is written
to disk but the example's own outputs (``_output/<example>/`` next to the
notebook) and the data (``data/``).

The notebook starts with a cell that installs whichever of torch,
torchvision and matplotlib is missing (nothing, on Google Colab), then the
importer and the helpers, then the example's own cells; the gallery page
shows only those (``own_cells``). This module is part of every example's
cache key (``keys.recipe_files``).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from docs_plugin import syntax
from docs_plugin.imports import local_imports

_INSTALL = '''\
# Install whichever of torch, torchvision and matplotlib is missing
# (nothing on Google Colab, which has all three).
import importlib.util
import subprocess
import sys

missing = [name for name in ("torch", "torchvision", "matplotlib")
           if importlib.util.find_spec(name) is None]
if missing:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *missing])'''

_IMPORTER = '''\
# The helper modules this example imports, from the site's repository, are
# in the cells below as text. This importer loads them from that text:
# nothing is written to disk.
import importlib.abc
import importlib.util
import linecache
import sys


class Bundled(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self):
        self.sources = {}  # module name -> (file name, source)

    def add(self, name, filename, source):
        self.sources[name] = (filename, source)
        # so that tracebacks show the helpers' lines
        linecache.cache[filename] = (len(source), None,
                                     source.splitlines(True), filename)

    def find_spec(self, name, path=None, target=None):
        if name in self.sources:
            filename = self.sources[name][0]
            return importlib.util.spec_from_loader(
                name, self, origin=filename,
                is_package=filename.endswith("__init__.py"))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        filename, source = self.sources[module.__name__]
        module.__file__ = filename
        exec(compile(source, filename, "exec"), module.__dict__)


bundled = Bundled()
sys.meta_path.insert(0, bundled)'''


def to_notebook(path) -> nbformat.NotebookNode:
    """The example as a notebook, section markers removed."""
    import jupytext

    notebook = jupytext.read(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = syntax.strip_markers(cell.source).strip("\n")
    notebook.cells = [c for c in notebook.cells if c.source.strip()]
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def helpers(example, root) -> list[tuple[str, str, str]]:
    """``[(module name, path relative to root, source)]`` of every local
    module ``example`` imports, packages before their modules."""
    root = Path(root).resolve()
    found = []
    for path in local_imports(example.path, [root, example.path.parent]):
        rel = path.resolve().relative_to(root)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        # Section markers only matter to the site's pages.
        found.append((".".join(parts), rel.as_posix(), syntax.strip_markers(
            path.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda item: (item[0].count("."), item[0]))


def source_digest(example, root) -> str:
    """Digest of the text a notebook is assembled from: the example's and
    its helpers' (comments and docstrings included, which the cache key
    leaves out: a helper's docstring fixed re-runs nothing, but the
    notebook a reader downloads must carry it)."""
    digest = hashlib.sha256(example.path.read_bytes() + b"\0")
    for name, rel, text in helpers(example, root):
        digest.update(f"{name}\0{rel}\0".encode() + text.encode() + b"\0")
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _literal(source):
    """``source`` as a Python string literal that reads like the file."""
    if "'''" not in source and not source.endswith("\\"):
        return "r'''" + source + "'''" if "\\" in source else \
            "'''" + source + "'''"
    return repr(source)


@dataclass
class Assembled:
    """An example's self-contained notebook, not yet run."""

    notebook: nbformat.NotebookNode
    bundled: int  # cells before the example's own second cell
    source: str  # source_digest() of what it was assembled from


def assemble(example, root) -> Assembled:
    """The example as a notebook that runs on its own (see module doc)."""
    source = source_digest(example, root)
    nb = to_notebook(example.path)
    title, rest = nb.cells[:1], nb.cells[1:]
    intro = nbformat.v4.new_markdown_cell(
        "This notebook is an example on batch normalization in "
        "PyTorch. It needs Python 3.10 or newer with `torch`, "
        "`torchvision` and `matplotlib` (`pip install torch torchvision "
        "matplotlib`); the first cell installs any that are missing. The "
        "cells after it hold the site's helper modules this example "
        "imports, as text, so that the notebook runs on its own. Its "
        "figures, tables and numbers go to `_output/"
        f"{example.name}/` next to it, and the data (Fashion-MNIST, "
        "downloaded by torchvision, or Debian's `dataset-fashion-mnist` "
        "when installed) to `data/`. Set `DOCS_FAST=1` in the environment "
        "for a quick run.")
    cells = [intro, nbformat.v4.new_code_cell(_INSTALL),
             nbformat.v4.new_code_cell(_IMPORTER)]
    for name, rel, text in helpers(example, root):
        cell = nbformat.v4.new_code_cell(
            f"# {rel}\nbundled.add({name!r}, {rel!r}, {_literal(text)})")
        cell.metadata["jupyter"] = {"source_hidden": True}  # long: folded
        cells.append(cell)
    nb.cells = title + cells + rest
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number}"  # the same file at every build
    return Assembled(nb, len(title) + len(cells), source)


# The downloads of one example, as kept in its cache entry.
NOTEBOOK, SCRIPT = "download.ipynb", "download.py"


def write_downloads(notebook, folder) -> None:
    """Write ``notebook`` (not yet run) as the two downloads into
    ``folder``: the notebook, and the same as a jupytext percent script."""
    import jupytext

    folder = Path(folder)
    (folder / NOTEBOOK).write_text(nbformat.writes(notebook),
                                   encoding="utf-8")
    (folder / SCRIPT).write_text(jupytext.writes(notebook, fmt="py:percent"),
                                 encoding="utf-8")


def own_cells(notebook, bundled: int) -> nbformat.NotebookNode:
    """A copy of ``notebook`` (executed or not) with only the example's own
    cells: what its gallery page shows. Their execution counts start at 1,
    and each cell's consecutive prints are one output (the kernel sends
    them in chunks that depend on timing)."""
    own = nbformat.from_dict(notebook)
    own.cells = own.cells[:1] + own.cells[bundled:]
    count = 0
    for number, cell in enumerate(own.cells):
        cell.id = f"cell-{number}"
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None:
            count += 1
            cell.execution_count = count
        outputs = []
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = cell.execution_count
            last = outputs[-1] if outputs else None
            if output.output_type == "stream" and last is not None and \
                    last.output_type == "stream" and last.name == output.name:
                last.text = _text(last.text) + _text(output.text)
            else:
                outputs.append(output)
        cell.outputs = outputs
    return own


def _text(text):
    return "".join(text) if isinstance(text, list) else text
