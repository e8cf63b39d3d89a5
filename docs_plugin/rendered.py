"""mkdocs-jupyter's cache of rendered gallery pages, kept in ours
(``<cache>/<mode>/rendered/``) and checked like ours.

mkdocs-jupyter writes a page's HTML there the first time it renders a
notebook, without writing atomically, and later trusts whatever the file
holds. So after every build that got to its end, ``seal`` writes the
digest of each file; before the next build renders anything, ``check``
deletes each file that is not one a finished build sealed, or whose bytes
changed since (a file cut short by a kill, an edit by hand), with one line
naming it: mkdocs-jupyter then renders that page again.
"""

import json
import logging
from pathlib import Path

from docs_plugin.cache import file_digest, write_atomically

log = logging.getLogger("mkdocs.plugins.examples")


def _pages(folder):
    return sorted(Path(folder).glob("*.json"))


def _seals(folder):
    """Beside the folder, not in it: mkdocs-jupyter deletes every file of
    its folder that a build did not use."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".seals.json")


def check(folder) -> None:
    """Delete every page file no finished build sealed as it is now."""
    folder = Path(folder)
    try:
        seals = json.loads(_seals(folder).read_text(encoding="utf-8"))
        assert isinstance(seals, dict)
    except (OSError, ValueError, AssertionError):
        seals = {}
    for path in _pages(folder):
        sealed = seals.get(path.name)
        if sealed is not None and file_digest(path) == sealed:
            continue
        why = ("changed since it was written" if sealed else
               "not written by a build that finished")
        log.info(f"rendered gallery page {path}: {why}; rendering it again")
        path.unlink(missing_ok=True)


def seal(folder) -> None:
    """Record the digest of every page file, as a finished build left it."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    seals = {path.name: file_digest(path) for path in _pages(folder)}
    write_atomically(_seals(folder), json.dumps(seals, indent=1))
