"""Every ``DOCS_*`` environment variable the build reads, checked in one
place.

The variables an example reads too (``DOCS_FAST``, ``DOCS_DATA_DIR``,
``DOCS_OUTPUT_DIR``) are read through the examples' own settings module,
``snippets/support/settings.py``, the one module of ``snippets/`` the build
tool imports (standard library only): a value means the same thing to the
build and to an example, and a wrong one is refused the same way, in one
line naming the variable, the value and what is accepted.

>>> Settings.from_env({}).fast
False
>>> Settings.from_env({"DOCS_FAST": "1", "DOCS_JOBS": "3"}).jobs
3
>>> try:
...     Settings.from_env({"DOCS_JOBS": "0"})
... except SettingError as error:
...     print(error)
DOCS_JOBS='0' is not valid: use a whole number of at least 1 (how many \
examples run at once), or leave it unset
"""

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from snippets.support import settings as shared
from snippets.support.settings import SettingError, bad, flag, folder

__all__ = ["VARIABLES", "SettingError", "Settings", "matches"]

VARIABLES = {
    **shared.VARIABLES,
    "DOCS_EXECUTE": "false: build from the cached results without running "
                    "examples; true or unset: run what changed",
    "DOCS_JOBS": "how many examples the build runs at once (default: one "
                 "per core)",
    "DOCS_ONLY": "comma-separated name patterns: the build runs only the "
                 "matching examples and serves the others from the cache",
    "DOCS_RERUN": "comma-separated name patterns: the build re-runs the "
                  "matching examples even when their cached result is "
                  "current",
    "DOCS_CACHE_DIR": "where the build caches example results (default "
                      ".cache/examples)",
}
PATTERN_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789_*?[]-")


def _patterns(environ, name):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return ()
    patterns = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not patterns or any(not set(p) <= PATTERN_CHARACTERS
                           for p in patterns):
        raise bad(name, raw, "give example names or patterns such as "
                             "lenet_* (lowercase, comma-separated)")
    return patterns


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _jobs(environ):
    raw = (environ.get("DOCS_JOBS") or "").strip()
    if not raw:
        return cores()
    if raw.isascii() and raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise bad("DOCS_JOBS", environ["DOCS_JOBS"],
              "use a whole number of at least 1 (how many examples run at "
              "once), or leave it unset")


@dataclass(frozen=True)
class Settings:
    """What one build was asked to do."""

    fast: bool = False
    execute: bool = True
    jobs: int = 1
    only: tuple[str, ...] = ()
    rerun: tuple[str, ...] = ()
    cache_dir: Path | None = None
    data_dir: Path | None = None

    @property
    def mode(self) -> str:
        """``fast`` or ``full``: the cache keeps one folder per mode."""
        return "fast" if self.fast else "full"

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        """Read and check every ``DOCS_*`` variable of ``environ``."""
        environ = os.environ if environ is None else environ
        examples = shared.Settings.from_env(environ)
        execute = flag(environ, "DOCS_EXECUTE", {"true", "1"},
                       {"false", "0"}, "use true (run what changed) or "
                       "false (serve the cached results), or leave it "
                       "unset", True)
        return cls(fast=examples.fast, execute=execute, jobs=_jobs(environ),
                   only=_patterns(environ, "DOCS_ONLY"),
                   rerun=_patterns(environ, "DOCS_RERUN"),
                   cache_dir=folder(environ, "DOCS_CACHE_DIR"),
                   data_dir=examples.data_dir)


def unknown(environ=None) -> list[str]:
    """A line for each ``DOCS_*`` variable of ``environ`` that the build
    does not read (a misspelt name is otherwise ignored without a word).

    >>> unknown({"DOCS_FAS": "1", "DOCS_JOBS": "2", "HOME": "/root"})
    ['DOCS_FAS is not a variable the build reads (did you mean DOCS_FAST?)']
    """
    import difflib

    environ = os.environ if environ is None else environ
    known = set(VARIABLES) | {shared.READS_FILE}
    lines = []
    for name in sorted(n for n in environ if n.startswith("DOCS_")):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = (f"did you mean {close[0]}?" if close else
                    f"it reads {', '.join(sorted(VARIABLES))}")
            lines.append(f"{name} is not a variable the build reads "
                         f"({hint})")
    return lines


def matches(name: str, patterns) -> bool:
    """Whether example ``name`` matches one of ``patterns``.

    >>> matches("lenet_bias", ("lenet_*",)), matches("bn_cost", ("lenet_*",))
    (True, False)
    """
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
