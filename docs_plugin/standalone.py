"""The self-contained notebook of an example: the example's cells, with
the helper modules it imports from this repository (``snippets/``, and the
settings module of the build tool) carried in cells of their own. The build
executes exactly this notebook, in a kernel that may import none of this
repository's modules from disk (``kernel.bundle_only``), and readers
download it: what the site shows is what a reader's copy does.

The build knows which helpers an example imports (it follows the same
imports for the cache key). Each goes in as readable source text, loaded
by a small importer from that text: nothing is written to disk but the
example's own outputs (``_output/<example>/`` next to the notebook) and the
data (``data/``).

The notebook starts with a cell that installs whichever of torch,
torchvision and matplotlib is missing (nothing, on Google Colab), then the
importer and the helpers, then the example's own cells; the gallery page
shows only those (``own_cells``). This module is part of every example's
cache key (see ``runner.recipe_files``).
"""

from pathlib import Path

import nbformat

from docs_plugin import syntax
from docs_plugin.kernel import to_notebook
from docs_plugin.runner import local_imports

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


def helpers(example, root):
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


def _literal(source):
    """``source`` as a Python string literal that reads like the file."""
    if "'''" not in source and not source.endswith("\\"):
        return "r'''" + source + "'''" if "\\" in source else \
            "'''" + source + "'''"
    return repr(source)


def notebook(example, root, site_url=None):
    """The example as a notebook that runs on its own (see module doc)."""
    return assemble(example, root, site_url)[0]


def assemble(example, root, site_url=None):
    """``(notebook, bundled)``: the notebook of ``notebook()``, and how many
    cells it has before the example's own second cell (its title, then
    what this module adds)."""
    nb = to_notebook(example.path)
    title, rest = nb.cells[:1], nb.cells[1:]
    source = f" from [the site]({site_url})" if site_url else ""
    intro = nbformat.v4.new_markdown_cell(
        f"This notebook is an example{source} on batch normalization in "
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
    return nb, len(title) + len(cells)


def own_cells(notebook, bundled):
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
