"""What each run ran with, and the line that says so on its pages: the
versions of torch and torchvision, the processor and threads, the mode
(full size or fast) and the day, kept in the run's record (``ran``)."""

from __future__ import annotations

import datetime
import html
import platform


def processor() -> str:
    """The processor's model name, as Linux reports it (else the
    machine's architecture)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return " ".join(line.partition(":")[2].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "an unknown CPU"


def ran(versions: dict, threads: int | None, fast: bool) -> dict:
    """The facts a run's record keeps about how it ran."""
    return {"torch": versions.get("torch"),
            "torchvision": versions.get("torchvision"),
            "python": versions.get("python"),
            "processor": processor(), "threads": threads,
            "mode": "fast" if fast else "full",
            "date": datetime.datetime.now(datetime.timezone.utc)
            .date().isoformat()}


def _setup(ran: dict) -> str:
    threads = ran.get("threads")
    threads = ("torch's default threads" if threads is None else
               f"{threads} thread{'s' if threads != 1 else ''}")
    mode = ("in fast mode (<code>DOCS_FAST=1</code>)"
            if ran["mode"] == "fast"
            else "at full size")
    return (f"torch {ran['torch']}, torchvision {ran['torchvision']} and "
            f"Python {ran['python']}, on {html.escape(ran['processor'])} "
            f"({threads}), {mode}")


def sentence(records: list[dict], subject: str) -> str:
    """One HTML sentence saying how the ``records``' runs ran:
    ``subject`` ("The examples on this page") ran with ..., on <days>.

    >>> one = {"torch": "2.14.1", "torchvision": "0.29.1", "python": "3.11",
    ...        "processor": "a CPU", "threads": 1, "mode": "full",
    ...        "date": "2026-12-07"}
    >>> sentence([one], "It")
    'It ran with torch 2.14.1, torchvision 0.29.1 and Python 3.11, on a CPU \
(1 thread), at full size, on 2026-12-07 (UTC).'
    >>> sentence([one, dict(one, date="2026-12-08")], "They")[-46:]
    'size, between 2026-12-07 and 2026-12-08 (UTC).'
    """
    setups = sorted({_setup(r) for r in records})
    days = sorted({r["date"] for r in records})
    when = (f"on {days[0]}" if len(days) == 1 else
            f"between {days[0]} and {days[-1]}")
    return (f"{subject} ran with {'; and with '.join(setups)}, "
            f"{when} (UTC).")
