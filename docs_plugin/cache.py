"""The cache of example results; nothing damaged is ever served.

For each example the cache keeps, under ``<cache>/<mode>/``::

    entries/<name>.<id>/outputs/           what the example wrote
    entries/<name>.<id>/gallery/<name>.ipynb
                                           the executed notebook, its own
                                           cells only (its gallery page)
    entries/<name>.<id>/download.ipynb     the self-contained notebook that
    entries/<name>.<id>/download.py        ran, as readers download it
    records/<name>.json                    the record: key, seconds,
                                           a hash of every file above, and
                                           of every data file it read
    times.json                             the last measured time of each
                                           example (for scheduling)

A record is written last, atomically, and names its entry, so a run that
was interrupted or failed leaves no record and is never served; the next
build runs it again. Before serving an entry the runner checks every hash
in its record (``check``): a truncated figure or a hand-edited table
re-runs the example, with a message saying so.

One build at a time uses a cache folder (``lock``); a second build waits
for the first.
"""

import fcntl
import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from docs_plugin.examples import Example
from docs_plugin.standalone import NOTEBOOK, SCRIPT

RECORD_VERSION = 4  # 4: how it ran (stamps.ran)


@dataclass
class Run:
    """An example's result: fresh, or from the cache."""

    example: Example
    key: str
    seconds: float
    cached: bool
    entry: Path  # the cache entry holding all of it
    files: list[str] = field(default_factory=list)  # in outputs/
    stale: str = ""  # why a served result is not current ("" if it is)
    running: bool = False  # serving: it runs again in the background
    ran: dict = field(default_factory=dict)  # stamps.ran: with what, when

    @property
    def outputs(self) -> Path:
        """The folder of what the example wrote."""
        return self.entry / "outputs"

    @property
    def notebook(self) -> Path:
        """The executed notebook its gallery page shows."""
        return self.entry / "gallery" / f"{self.example.name}.ipynb"

    @property
    def download_notebook(self) -> Path:
        return self.entry / NOTEBOOK

    @property
    def download_script(self) -> Path:
        return self.entry / SCRIPT


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new
    file, never half of one (a crash leaves the old one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    data = data.encode() if isinstance(data, str) else data
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


DATA = "$DOCS_DATA_DIR/"  # a read under the data folder, wherever it is


def _label(path, data_dir):
    """How a record names a file an example read: under the data folder,
    relative to it (the same data in another folder is the same data).

    >>> _label("/d/x/f.gz", "/d"), _label("/e/f.gz", "/d")
    ('$DOCS_DATA_DIR/x/f.gz', '/e/f.gz')
    """
    if data_dir is not None:
        try:
            rel = Path(path).resolve().relative_to(Path(data_dir).resolve())
            return DATA + rel.as_posix()
        except ValueError:
            pass
    return str(path)


def _resolve(label, data_dir):
    if label.startswith(DATA):
        return Path(data_dir or ".") / label[len(DATA):]
    return Path(label)


class Damaged(Exception):
    """A cache entry no longer holds what its record says it wrote."""


class Cache:
    """The cache folder of one mode, ``<cache_dir>/<fast|full>``."""

    def __init__(self, cache_dir, fast):
        self.base = Path(cache_dir).resolve() / ("fast" if fast else "full")
        self._digests = {}  # (path, size, mtime) -> sha256, this process
        # Serving, a build reads and writes beside the runner without the
        # lock (background.py): a replaced entry stays until the next
        # clean(), which leaves others' temporary files alone.
        self.shared = False

    def record_path(self, name) -> Path:
        return self.base / "records" / f"{name}.json"

    @contextmanager
    def lock(self, log):
        """Hold the cache for one build; a second build waits its turn."""
        self.base.mkdir(parents=True, exist_ok=True)
        path = self.base / "lock"
        if path.is_symlink() or (path.exists() and not path.is_file()):
            # Only the build makes this file: whatever else is there is
            # damage (a folder, a link), not another build's lock.
            log(f"{path} was not the build's lock file; making it again")
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another build is using {self.base}; waiting for it "
                    "to finish")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def digest(self, path) -> str:
        """Content digest, remembered by size and mtime within a build."""
        stat = os.stat(path)
        token = (str(path), stat.st_size, stat.st_mtime_ns)
        if token not in self._digests:
            self._digests[token] = file_digest(path)
        return self._digests[token]

    def read_record(self, name) -> dict | None:
        """The record of ``name``, or None; a damaged record raises."""
        path = self.record_path(name)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            assert record["version"] == RECORD_VERSION
            for part in ("files", "reads", "downloads"):
                assert isinstance(record[part], dict)
            assert isinstance(record["warnings"], list)
            assert isinstance(record["ran"], dict)
            record["key"], record["entry"], record["seconds"]
            record["notebook"], record["source"]
        except (ValueError, KeyError, AssertionError, TypeError) as error:
            raise Damaged(f"its cache record {path} is unreadable "
                          f"({type(error).__name__})") from None
        return record

    def check(self, example, record) -> Run:
        """Raise ``Damaged`` unless every file the record lists is there
        with the content it had; return the entry's Run otherwise."""
        run = Run(example, record["key"], record["seconds"], True,
                  self.base / "entries" / record["entry"],
                  sorted(record["files"]), ran=record["ran"])
        expected = {f"outputs/{rel}": digest
                    for rel, digest in record["files"].items()}
        expected[run.notebook.relative_to(run.entry).as_posix()] = \
            record["notebook"]
        expected.update(record["downloads"])
        for rel, digest in sorted(expected.items()):
            path = run.entry / rel
            shown = rel.removeprefix("outputs/")
            if not path.is_file():
                raise Damaged(f"{shown} is missing from its cache entry")
            if self.digest(path) != digest:
                raise Damaged(f"{shown} in its cache entry was changed "
                              "after the example wrote it")
        return run

    def changed_reads(self, record, data_dir=None) -> list[str]:
        """The data files the example read that changed since (those under
        the data folder looked for under ``data_dir``, today's)."""
        changed = []
        for label, digest in sorted(record["reads"].items()):
            path = _resolve(label, data_dir)
            try:
                if self.digest(path) != digest:
                    changed.append(str(path))
            except OSError:
                changed.append(str(path))
        return changed

    def times(self) -> dict[str, float]:
        try:
            times = json.loads((self.base / "times.json").read_text("utf-8"))
            return {k: float(v) for k, v in times.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def save_time(self, name, seconds) -> None:
        times = self.times()
        times[name] = round(seconds, 3)
        write_atomically(self.base / "times.json",
                         json.dumps(times, indent=2, sort_keys=True) + "\n")

    def new_entry(self, name) -> Path:
        entry = self.base / "entries" / f"{name}.{secrets.token_hex(6)}"
        for sub in ("outputs", "gallery", "work/cwd", "work/tmp"):
            (entry / sub).mkdir(parents=True)
        return entry

    def _downloads(self, entry):
        return {name: file_digest(entry / name) for name in (NOTEBOOK, SCRIPT)}

    def commit(self, example, key, entry, seconds, reads, source,
               warnings=(), data_dir=None, ran=None) -> Run:
        """Make ``entry`` the example's result: hash what it holds, write
        the record (atomically, last), then drop the old entry.
        ``source`` is the digest of the text its notebook was assembled
        from (``standalone.source_digest``); ``warnings``, what its run
        warned of, which every build that serves it says again."""
        # the number the record keeps, so that this build and a later one
        # built from the record print the same time (3.0504 s showed as
        # 3.1 here and, stored as 3.05, as 3.0 there)
        seconds = round(seconds, 3)
        run = Run(example, key, seconds, False, entry, ran=dict(ran or {}))
        files = {p.relative_to(run.outputs).as_posix(): file_digest(p)
                 for p in sorted(run.outputs.rglob("*")) if p.is_file()}
        run.files = sorted(files)
        try:
            old = self.read_record(example.name)
        except Damaged:
            old = None
        record = {"version": RECORD_VERSION, "key": key,
                  "entry": entry.name, "seconds": round(seconds, 3),
                  "files": files, "notebook": file_digest(run.notebook),
                  "downloads": self._downloads(entry), "source": source,
                  "warnings": list(warnings), "ran": run.ran,
                  "reads": {_label(p, data_dir): file_digest(p)
                            for p in sorted(reads) if os.path.isfile(p)}}
        write_atomically(self.record_path(example.name),
                         json.dumps(record, indent=2) + "\n")
        self.save_time(example.name, seconds)
        if old and old["entry"] != entry.name and not self.shared:
            shutil.rmtree(self.base / "entries" / old["entry"],
                          ignore_errors=True)
        return run

    def refresh_downloads(self, run, record, write, source) -> None:
        """Replace the downloads of a current entry whose helpers' text
        changed in comments or docstrings only (the key leaves those out):
        ``write(folder)`` writes the new ones; the record follows."""
        fresh = run.entry / f".downloads.{secrets.token_hex(4)}.tmp"
        fresh.mkdir()
        try:
            write(fresh)
            for name in (NOTEBOOK, SCRIPT):
                os.replace(fresh / name, run.entry / name)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        record = dict(record, downloads=self._downloads(run.entry),
                      source=source)
        write_atomically(self.record_path(run.example.name),
                         json.dumps(record, indent=2) + "\n")

    def derived(self, name: str, key: str, make, log=None) -> Path:
        """A file the build makes from inputs whose digest is ``key``
        (``make()`` returns its bytes), kept under ``derived/`` with its
        own digest beside it: made again only when the inputs changed or
        the file is missing or damaged (with a line to ``log``)."""
        path = self.base / "derived" / f"{name}.{key[:24]}"
        sidecar = path.with_name(path.name + ".sha256")
        try:
            if self.digest(path) == sidecar.read_text("utf-8").strip():
                return path
            damaged = True
        except OSError:
            damaged = path.exists() or sidecar.exists()
        if damaged and log is not None:
            log(f"{path}: changed since it was made; making it again")
        data = make()
        write_atomically(path, data)
        write_atomically(sidecar, hashlib.sha256(data).hexdigest() + "\n")
        for old in path.parent.glob(f"{name}.*"):
            if old not in (path, sidecar):
                old.unlink(missing_ok=True)
        return path

    def clean(self, names) -> None:
        """Remove entries no record names (left by an interrupted or
        failed run) and records of examples that no longer exist."""
        entries = self.base / "entries"
        keep = set()
        for path in sorted((self.base / "records").glob("*.json")):
            if path.stem not in names:
                path.unlink()
                continue
            try:
                record = self.read_record(path.stem)
                keep.add(record["entry"])
            except Damaged:
                pass
        if entries.is_dir():
            for entry in entries.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)
        for stray in [] if self.shared else self.base.glob("**/.*.tmp"):
            if stray.is_dir():
                shutil.rmtree(stray, ignore_errors=True)
            else:
                stray.unlink(missing_ok=True)
