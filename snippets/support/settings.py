"""What an example and the site's build agree on: the ``DOCS_*`` variables
an example reads, and the names of the files it writes.

Standard library only, and nothing of the build tool: every notebook and
script a reader downloads carries this module. The build reads these
variables through it too (``docs_plugin/settings.py`` adds its own), so a
value means the same thing everywhere and a wrong one is refused the same
way: one line naming the variable, the value and what is accepted.

>>> Settings.from_env({}).fast
False
>>> Settings.from_env({"DOCS_FAST": "1"}).fast
True
>>> try:
...     Settings.from_env({"DOCS_FAST": "yes"})
... except SettingError as error:
...     print(error)
DOCS_FAST='yes' is not valid: use 1 (small, quick runs) or 0 (full size), \
or leave it unset
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

VARIABLES = {
    "DOCS_FAST": "1: small, quick runs (tests, CI); 0 or unset: full size",
    "DOCS_OUTPUT_DIR": "where an example writes (default: "
                       "_output/<example>/; the build sets it)",
    "DOCS_DATA_DIR": "where data sets live (default data/)",
}
# Set by the build only: the file in which an example notes the data files
# it read (the build re-runs it when one changes).
READS_FILE = "DOCS_READS_FILE"

# The files an example writes besides its figures and tables; the build
# reads them by these names.
VALUES = "values.json"    # numbers for the prose: {{ example.key }}
CLAIMS = "claims.json"    # verdicts on sentences: {{ claim example.name }}
TIMINGS = "timings.json"  # wall-clock measurements (see is_timing)


def is_timing(filename):
    """Whether an output file holds wall-clock measurements, which no two
    runs reproduce: ``timings.json`` and files named ``timing_*``.

    >>> is_timing("timings.json"), is_timing("timing_cost.md")
    (True, True)
    >>> is_timing("values.json"), is_timing("loss_curves.svg")
    (False, False)
    """
    return Path(filename).name.startswith("timing")


class SettingError(ValueError):
    """A ``DOCS_*`` variable has a value that is not accepted."""


def bad(name, value, accepted):
    """The error for ``name=value``, saying what is ``accepted``."""
    return SettingError(f"{name}={value!r} is not valid: {accepted}")


def flag(environ, name, true, false, accepted, default):
    """A yes/no variable: ``true`` and ``false`` are its accepted values
    (lowercase); unset or empty gives ``default``."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in true:
        return True
    if value in false:
        return False
    raise bad(name, raw, accepted)


def folder(environ, name):
    """A folder variable: a ``Path``, or None when unset or empty."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # ~user of a user this machine does not know
        raise bad(name, raw, "its ~ names no home folder on this machine; "
                             "give the folder's full path") from None
    if path.exists() and not path.is_dir():
        raise bad(name, raw, "it names a file; give a folder (it is "
                             "created if missing)")
    return path


@dataclass(frozen=True)
class Settings:
    """The variables an example reads."""

    fast: bool = False
    output_dir: Path | None = None
    data_dir: Path | None = None
    reads_file: Path | None = None

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        """Read and check the variables of ``environ`` (default: this
        process's)."""
        environ = os.environ if environ is None else environ
        fast = flag(environ, "DOCS_FAST", {"1"}, {"0"},
                    "use 1 (small, quick runs) or 0 (full size), or leave "
                    "it unset", False)
        reads = environ.get(READS_FILE) or None
        return cls(fast=fast, output_dir=folder(environ, "DOCS_OUTPUT_DIR"),
                   data_dir=folder(environ, "DOCS_DATA_DIR"),
                   reads_file=Path(reads) if reads else None)


def current() -> Settings:
    """The settings of this process; in a script, a bad value stops it
    with its one-line message instead of a traceback."""
    try:
        return Settings.from_env()
    except SettingError as error:
        sys.exit(f"error: {error}")
