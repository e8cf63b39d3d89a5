"""What a reader downloads: every example as a notebook and as a script that
run on their own, in an empty folder, with only Python, torch, torchvision
and matplotlib installed (and Jupyter, for the notebook).

An example imports helpers from this repository (``snippets/``, and the
settings module of the build tool). The build knows which (it follows the
same imports for the cache key), so each download carries them: readable
source text in cells of their own, loaded by a small importer from that
text. Nothing is written to disk but the example's own outputs
(``_output/<example>/`` next to the notebook) and the data (``data/``).

The notebook starts with a cell that installs whichever of torch,
torchvision and matplotlib is missing (nothing, on Google Colab), then the
helpers, then the example's own cells. The script is the same notebook in
jupytext's percent format.

``download_all`` zips every example (as in the repository, with the helper
packages beside them, so ``python <example>.py`` runs from the unzipped
folder), the self-contained notebooks, a ``requirements.txt`` and a README.
"""

import io
import zipfile
from pathlib import Path

import nbformat

from docs_plugin import syntax
from docs_plugin.kernel import to_notebook
from docs_plugin.runner import local_imports

NEEDS = ["torch", "torchvision", "matplotlib"]

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
    return nb


def notebook_text(example, root, site_url=None):
    nb = notebook(example, root, site_url)
    return nbformat.writes(nb)


def script_text(example, root, site_url=None):
    """The self-contained notebook as a jupytext percent script."""
    import jupytext

    nb = notebook(example, root, site_url)
    return jupytext.writes(nb, fmt="py:percent")


README = """\
# Examples on batch normalization in PyTorch

Every example of the site{source}, with the helper modules they import.

    pip install -r requirements.txt
    python mlp_batchnorm.py            # full size
    DOCS_FAST=1 python mlp_batchnorm.py  # a quick run

Run them from this folder (so that Python finds `snippets/` beside them),
or open the notebooks in Jupyter. Each writes its figures, tables and
numbers into `_output/<example>/`; the data (Fashion-MNIST) goes to `data/`:
torchvision downloads it, or Debian's `dataset-fashion-mnist` package is used
when installed. The `*.ipynb` files also run on their own, anywhere.
"""


def download_all(examples, root, site_url=None):
    """Bytes of a zip with every example, its notebook, the helpers, a
    requirements.txt and a README."""
    root = Path(root).resolve()
    buffer = io.BytesIO()
    files = {}
    for example in examples:
        files[example.path.name] = example.path.read_text(encoding="utf-8")
        files[f"{example.name}.ipynb"] = notebook_text(example, root,
                                                       site_url)
        for _, rel, text in helpers(example, root):
            files[rel] = text
    files["requirements.txt"] = "\n".join(NEEDS) + "\n"
    files["README.md"] = README.format(
        source=f" ({site_url})" if site_url else "")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"bn-examples/{name}",
                                   date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()
