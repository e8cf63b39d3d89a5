"""Where the site is written, and when it is published.

``mkdocs build`` writes the site into a fresh folder beside the real one
and swaps it in only when the build succeeded, with no warning under
``strict``: a failed build leaves the last good site as it was.
``mkdocs serve`` is forgiving instead: a failing example or a broken link
shows on its page and in the log, and the server keeps serving (with
``strict: true`` mkdocs would stop answering until the error is fixed).
"""

import logging
import os
import secrets
import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.utils import CountHandler


class _Count(logging.Handler):
    """Counts warnings and errors, as mkdocs does for --strict."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += 1


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(site_dir) -> None:
    """Remove the staged or replaced sites that builds killed before their
    end left beside ``site_dir`` (those of a build still running stay).

    >>> import tempfile
    >>> site = Path(tempfile.mkdtemp()) / "site"
    >>> for name in (".site.building-999999999-ab", ".site.old-cd",
    ...              f".site.building-{os.getpid()}-ef"):
    ...     (site.parent / name).mkdir()
    >>> remove_leftovers(site)
    >>> sorted(p.name for p in site.parent.iterdir())  # doctest: +ELLIPSIS
    ['.site.building-...-ef']
    """
    site_dir = Path(site_dir)
    for path in site_dir.parent.glob(f".{site_dir.name}.*"):
        kind, _, rest = path.name[len(site_dir.name) + 2:].partition("-")
        if kind == "building":
            pid = rest.partition("-")[0]
            if pid.isdigit() and _alive(int(pid)):
                continue
        elif kind != "old":
            continue
        shutil.rmtree(path, ignore_errors=True)


class Staging:
    """The site folder of one build (see module doc)."""

    def __init__(self, config, serving: bool):
        self.serving = serving
        logger = logging.getLogger("mkdocs")
        if serving:
            # mkdocs counts warnings for strict mode with a handler it
            # attached before this event; detach it.
            config.strict = False
            for handler in list(logger.handlers):
                if isinstance(handler, CountHandler):
                    logger.removeHandler(handler)
            return
        self.warnings = _Count()
        logger.addHandler(self.warnings)
        self.site_dir = Path(config.site_dir).resolve()
        remove_leftovers(self.site_dir)
        self.folder = self.site_dir.with_name(
            f".{self.site_dir.name}.building-{os.getpid()}-"
            f"{secrets.token_hex(4)}")
        try:  # now, so that a folder that cannot be written is one line
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.folder.mkdir()
        except OSError as error:
            raise PluginError(
                f"the site cannot be written to {self.site_dir}: its "
                f"folder {self.folder.parent} cannot be written "
                f"({error.strerror}); give `mkdocs build -d` a folder you "
                "can write") from None
        config.site_dir = str(self.folder)

    def publish(self, config) -> None:
        """Swap the staged site in, unless a strict build had warnings
        (mkdocs aborts it after this event: it must not be published)."""
        if self.serving:
            return
        logging.getLogger("mkdocs").removeHandler(self.warnings)
        if config.strict and self.warnings.count:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        if self.folder.is_dir():
            old = self.site_dir.with_name(
                f".{self.site_dir.name}.old-{secrets.token_hex(4)}")
            if self.site_dir.exists():
                os.replace(self.site_dir, old)
            os.replace(self.folder, self.site_dir)
            shutil.rmtree(old, ignore_errors=True)
            config.site_dir = str(self.site_dir)

    def discard(self) -> None:
        """A failed build: drop the staged site."""
        if not self.serving:
            logging.getLogger("mkdocs").removeHandler(self.warnings)
            shutil.rmtree(self.folder, ignore_errors=True)
