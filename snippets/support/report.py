"""What an example reports: the fast switch, its output folder, its figures,
tables, values and claims.

Every example imports these, so a figure or a number on the site is always
written the same way and always lands in the example's one output folder:
``$DOCS_OUTPUT_DIR`` when set (the site build sets it), else
``_output/<example>/`` in the folder you run the example from.
"""

import json
import math
from pathlib import Path

import matplotlib

from snippets.support import rules, settings
from snippets.support.settings import CLAIMS, TIMINGS, VALUES, is_timing

__all__ = ["FAST", "Markdown", "Report", "at_least", "at_most", "escape",
           "is_timing", "output_dir"]

SETTINGS = settings.current()  # a bad DOCS_* value stops here, in one line


# Figure style shared by every example: one width (7.2 in, as matplotlib's
# own gallery), readable fonts, and no per-save randomness in the SVG ids.
STYLE = {
    "figure.figsize": (7.2, 3.6),
    "figure.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "bn-reference",
    "svg.fonttype": "path",
    "figure.constrained_layout.use": True,  # no overlapping labels
}
matplotlib.rcParams.update(STYLE)


# DOCS_FAST=1 (tests, CI): every example shrinks its work.
FAST = SETTINGS.fast


def output_dir(name, environ=None):
    """The one folder where example ``name`` writes (``Report`` makes it).

    >>> output_dir("demo", {"DOCS_OUTPUT_DIR": "/tmp/bn-demo"}).as_posix()
    '/tmp/bn-demo'
    >>> output_dir("demo", {}) == Path.cwd() / "_output" / "demo"
    True
    """
    folder = settings.Settings.from_env(environ).output_dir
    return folder or Path.cwd() / "_output" / name


def _show_markdown(text):
    """Show Markdown ``text`` as rendered output in a notebook (IPython's
    kernel), else print it."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown as Shown
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Shown(text))
    else:
        print(text, end="")


class Markdown(str):
    """A table cell that is Markdown on purpose (``Markdown("`x`")``); any
    other cell is escaped, so that a ``*`` or ``|`` in it stays a
    character."""


def at_most(value, digits=2):
    """``value`` rounded *up* to ``digits`` significant digits: the number
    a sentence can print after "at most" or "up to" and stay true.

    >>> at_most(4.411e-06), at_most(0.6218), at_most(0.62), at_most(3)
    ('4.5e-06', '0.63', '0.62', '3')
    """
    return _outward(value, digits, math.ceil)


def at_least(value, digits=2):
    """``value`` rounded *down* to ``digits`` significant digits, for "at
    least" and "more than".

    >>> at_least(0.9782), at_least(1.332e-04, 3)
    ('0.97', '0.000133')
    """
    return _outward(value, digits, math.floor)


def _outward(value, digits, direction):
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    step = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    # round away float noise first: 0.62 / 0.01 is 62.00000000000001
    rounded = direction(round(value / step, 6)) * step
    return f"{rounded:.{digits}g}"


def escape(text):
    """``text`` with Markdown's active characters escaped.

    >>> print(escape("BatchNorm2d *"), escape("a|b"), escape("<1e-5"))
    BatchNorm2d \\* a\\|b &lt;1e-5
    """
    if isinstance(text, Markdown):
        return str(text)
    text = str(text).replace("\\", "\\\\")
    for char in "`*_[]|#":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _format(key, value):
    """A value as the pages show it: floats with 4 significant digits;
    nothing that is not a finite number or a plain word."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{key} is {value!r}: record a number or a word")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key} is not finite: {value}")
        value = f"{value:.4g}"
    text = str(value)
    if not text.strip() or text in ("nan", "NaN", "inf", "-inf", "None"):
        raise ValueError(f"{key} is {text!r}: record a number or a word")
    return text


class Report:
    """Collects the files one example writes into its output folder.

    >>> import tempfile
    >>> report = Report("demo", tempfile.mkdtemp())
    >>> report.values(final_loss=0.123456, steps=42)
    >>> print(report.path("values.json").read_text())
    {
      "final_loss": "0.1235",
      "steps": "42"
    }
    """

    def __init__(self, name, folder=None):
        self.name = name
        self.folder = Path(folder) if folder else output_dir(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._values = {}
        self._timings = {}
        self._claims = {}

    def path(self, filename):
        return self.folder / filename

    def figure(self, fig, name):
        """Save ``fig`` as ``<name>.svg``, byte-identical across runs."""
        fig.savefig(self.path(f"{name}.svg"), bbox_inches="tight",
                    metadata={"Date": None})

    def table(self, name, header, rows):
        """Write a Markdown table ``<name>.md`` that a page can include,
        and show it: as a table in a notebook, as its Markdown text in a
        script. (Returns nothing: as a cell's last line, a path would show
        on the gallery page.)

        >>> import tempfile
        >>> report = Report("demo", tempfile.mkdtemp())
        >>> report.table("t", ["model", "loss"], [["BN", "0.50"]])
        | model | loss |
        | --- | --- |
        | BN | 0.50 |
        >>> print(report.path("t.md").read_text(), end="")
        | model | loss |
        | --- | --- |
        | BN | 0.50 |
        """
        lines = ["| " + " | ".join(escape(h) for h in header) + " |",
                 "| " + " | ".join("---" for _ in header) + " |"]
        for row in rows:
            if len(row) != len(header):
                raise ValueError(f"row {row!r} does not match {header!r}")
            lines.append("| " + " | ".join(escape(cell) for cell in row)
                         + " |")
        text = "\n".join(lines) + "\n"
        self.path(f"{name}.md").write_text(text, encoding="utf-8")
        _show_markdown(text)

    def values(self, **values):
        """Record numbers for the prose; floats are written with 4 digits.

        Pages show them with ``{{ <example>.<key> }}``, so every number in
        the text comes out of this run. A string is kept as written; None,
        a bool, NaN or infinity is refused.
        """
        self._write(VALUES, self._values, values)

    def claim(self, name, rule):
        """Record a sentence a page states, and the rule that decides it.

        A page puts ``{{ claim <example>.<name> }}`` after the sentence.
        ``rule`` is one of ``snippets.support.rules`` built from this
        run's numbers: it decides whether the sentence holds, says in words
        what it checked, and gives the evidence it decided on. The claims
        page shows all three, and a full-size build fails, naming the
        sentence, when a claim does not hold or could not fail (see
        ``rules.could_fail``).

        >>> import tempfile
        >>> from snippets.support.rules import Greater
        >>> report = Report("demo", tempfile.mkdtemp())
        >>> report.claim("bn_faster", Greater("steps without BN", 300,
        ...                                   "steps with BN", 120))
        >>> record = json.loads(report.path(CLAIMS).read_text())
        >>> record["bn_faster"]["holds"], record["bn_faster"]["rule"]
        (True, 'steps without BN is above steps with BN')
        >>> record["bn_faster"]["evidence"]
        [['steps without BN', '300'], ['steps with BN', '120']]
        """
        if not name.isidentifier():
            raise ValueError(f"claim name {name!r} is not an identifier")
        if not isinstance(rule, rules.Rule):
            raise TypeError(f"claim {name}: give a rule from "
                            "snippets.support.rules, not "
                            f"{type(rule).__name__}")
        self._claims[name] = {
            "holds": rule.holds,
            "rule": rule.words,
            "evidence": [[str(label), str(value)]
                         for label, value in rule.evidence],
            "check": rule.record(),
            "weakness": rules.could_fail(rule)}
        self.path(CLAIMS).write_text(
            json.dumps(self._claims, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")

    def timings(self, **values):
        """Like ``values``, for measurements of time, which no two runs
        reproduce. They go to ``timings.json``; name timing tables and
        figures ``timing_*`` too. Everything else an example writes must
        be identical from run to run (the tests check)."""
        self._write(TIMINGS, self._timings, values)

    def _write(self, filename, store, values):
        for key, value in values.items():
            store[key] = _format(key, value)
        self.path(filename).write_text(
            json.dumps(store, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")
