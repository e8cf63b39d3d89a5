"""The cache key of an example: a digest that changes whenever what the
example writes could.

It covers the example's bytes, the *code* (not comments or docstrings,
``imports.code_digest``) of every local module it imports, followed
transitively, the code of the recipe that runs it (``recipe_files``), the
versions of the packages that shape the results, and the mode. The data
files an example read are checked separately, by content (``cache``).
"""

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

from docs_plugin import kernel, standalone
from docs_plugin.imports import code_digest, local_imports

# Packages whose version can change a number or a figure on the site.
PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "jupytext",
            "nbclient", "ipykernel", "pillow"]


def package_versions() -> dict[str, str | None]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def recipe_files() -> list[Path]:
    """How an example runs, which every key covers: ``kernel.py`` (and
    what it imports), which runs the notebook, and ``standalone.py`` (and
    what it imports), which makes it."""
    files = []
    for module in (kernel, standalone):
        path = Path(module.__file__)
        files += [path] + local_imports(path, [path.parent.parent])
    return sorted(set(files))


def _label(path, root):
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def cache_key(example, root, fast, versions=None, extra=None) -> str:
    """Hex digest that changes whenever the example's output could."""
    root = Path(root)
    digest = hashlib.sha256()
    # The example's own bytes: its comments and text are on its page.
    digest.update(example.path.read_bytes() + b"\0")
    helpers = local_imports(example.path, [root, example.path.parent])
    helpers += recipe_files()
    for path in sorted(set(helpers)):
        digest.update(_label(path, root).encode() + b"\0"
                      + code_digest(path).encode() + b"\0")
    versions = package_versions() if versions is None else versions
    digest.update(json.dumps(versions, sort_keys=True).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    digest.update(b"fast" if fast else b"full")
    return digest.hexdigest()
