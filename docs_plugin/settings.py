"""Every ``DOCS_*`` environment variable, read and checked in one place.

The build (``docs_plugin``) and the examples (through
``snippets/support/report.py``) both read their settings here, so a value
means the same thing everywhere and a wrong one is refused the same way:
one line naming the variable, the value and what is accepted.

This module uses the standard library only: a reader who downloads an
example gets a copy of it next to the example.

>>> Settings.from_env({}).fast
False
>>> Settings.from_env({"DOCS_FAST": "1", "DOCS_JOBS": "3"}).jobs
3
>>> Settings.from_env({"DOCS_FAST": "yes"})
Traceback (most recent call last):
...
docs_plugin.settings.SettingError: DOCS_FAST='yes' is not valid: use 1 (small, quick runs) or 0 (full size), or leave it unset
"""

import fnmatch
import os
import sys
from dataclasses import dataclass
from pathlib import Path

VARIABLES = {
    "DOCS_FAST": "1: small, quick runs (tests, CI); 0 or unset: full size",
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
    "DOCS_OUTPUT_DIR": "where a standalone example writes (the build sets "
                       "it)",
    "DOCS_DATA_DIR": "where data sets live (default data/)",
}


class SettingError(ValueError):
    """A ``DOCS_*`` variable has a value that is not accepted."""


def _bad(name, value, accepted):
    return SettingError(f"{name}={value!r} is not valid: {accepted}")


def _flag(environ, name, true, false, accepted, default):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in true:
        return True
    if value in false:
        return False
    raise _bad(name, raw, accepted)


def _folder(environ, name):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise _bad(name, raw, "it names a file; give a folder (it is "
                              "created if missing)")
    return path


def _patterns(environ, name):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return ()
    patterns = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not patterns or any(
            not set(p) <= set("abcdefghijklmnopqrstuvwxyz0123456789_*?[]-")
            for p in patterns):
        raise _bad(name, raw, "give example names or patterns such as "
                              "lenet_* (lowercase, comma-separated)")
    return patterns


@dataclass(frozen=True)
class Settings:
    fast: bool = False
    execute: bool = True
    jobs: int = 1
    only: tuple = ()
    rerun: tuple = ()
    cache_dir: Path = None
    output_dir: Path = None
    data_dir: Path = None

    @classmethod
    def from_env(cls, environ=None):
        """Read and check every ``DOCS_*`` variable of ``environ``."""
        environ = os.environ if environ is None else environ
        fast = _flag(environ, "DOCS_FAST", {"1"}, {"0"},
                     "use 1 (small, quick runs) or 0 (full size), or "
                     "leave it unset", False)
        execute = _flag(environ, "DOCS_EXECUTE", {"true", "1"},
                        {"false", "0"}, "use true (run what changed) or "
                        "false (serve the cached results), or leave it "
                        "unset", True)
        raw_jobs = (environ.get("DOCS_JOBS") or "").strip()
        if not raw_jobs:
            jobs = max(1, len(os.sched_getaffinity(0))) if hasattr(
                os, "sched_getaffinity") else os.cpu_count() or 1
        elif raw_jobs.isdigit() and int(raw_jobs) >= 1:
            jobs = int(raw_jobs)
        else:
            raise _bad("DOCS_JOBS", environ["DOCS_JOBS"],
                       "use a whole number of at least 1 (how many "
                       "examples run at once), or leave it unset")
        return cls(fast=fast, execute=execute, jobs=jobs,
                   only=_patterns(environ, "DOCS_ONLY"),
                   rerun=_patterns(environ, "DOCS_RERUN"),
                   cache_dir=_folder(environ, "DOCS_CACHE_DIR"),
                   output_dir=_folder(environ, "DOCS_OUTPUT_DIR"),
                   data_dir=_folder(environ, "DOCS_DATA_DIR"))


def matches(name, patterns):
    """Whether example ``name`` matches one of ``patterns``.

    >>> matches("lenet_bias", ("lenet_*",)), matches("bn_cost", ("lenet_*",))
    (True, False)
    """
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def current():
    """The settings of this process; in a script, a bad value stops it
    with its one-line message instead of a traceback."""
    try:
        return Settings.from_env()
    except SettingError as error:
        sys.exit(f"error: {error}")
