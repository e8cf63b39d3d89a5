"""What a reader downloads: every example as a notebook and as a script
that run on their own, in an empty folder, with only Python, torch,
torchvision and matplotlib installed (and Jupyter, for the notebook).

Both are the one notebook the build assembled and ran, written when it
ran (``standalone.write_downloads``) and kept with its cached result
(``runner``): the notebook as it was before it ran, and the same notebook
in jupytext's percent format. The build serves them as they are; this
module makes the zip of all examples.

``download_all`` zips every example (as in the repository, with the helper
packages beside them, so ``python <example>.py`` runs from the unzipped
folder), the self-contained notebooks, a ``requirements.txt`` and a README.
"""

import hashlib
import io
import zipfile
from pathlib import Path

from docs_plugin.standalone import helpers

NEEDS = ["torch", "torchvision", "matplotlib"]

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


def zip_key(examples, root, site_url=None) -> str:
    """Digest of everything ``download_all`` puts in the zip (the same
    arguments), and of this module's code."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr(site_url).encode())
    for example, notebook in examples:
        digest.update(example.path.read_bytes() + notebook.encode())
        for _, rel, text in helpers(example, Path(root).resolve()):
            digest.update(f"\0{rel}\0{text}".encode())
    return digest.hexdigest()


def download_all(examples, root, site_url=None) -> bytes:
    """Bytes of a zip with every example's script, its notebook, the
    helpers, a requirements.txt and a README. ``examples`` are
    ``(example, notebook text)`` pairs."""
    root = Path(root).resolve()
    buffer = io.BytesIO()
    files = {}
    for example, notebook in examples:
        files[example.path.name] = example.path.read_text(encoding="utf-8")
        files[f"{example.name}.ipynb"] = notebook
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
