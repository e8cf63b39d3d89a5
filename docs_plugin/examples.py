"""The examples of ``examples/`` and what is known of each without
running it: its name, title and summary (from its first markdown cell),
and whether it measures time (then it runs alone)."""

import ast
from dataclasses import dataclass
from pathlib import Path

from docs_plugin.imports import parse


class ExampleError(Exception):
    """An example failed or is malformed; the message says which one,
    where and why."""

    def __init__(self, message, example=None, notebook=None):
        super().__init__(message)
        self.example = example
        self.notebook = notebook  # executed up to the failure, if any


def no_such_example(name, names, code_dir) -> str:
    """What to say of ``name``, which is not one of the examples
    ``names`` (in ``code_dir``).

    >>> no_such_example("tiyn", ["tiny", "bn_cost"], "examples")
    'there is no example named tiyn (did you mean tiny?)'
    """
    import difflib

    close = difflib.get_close_matches(name, names, n=3)
    hint = (f"did you mean {', '.join(close)}?" if close else
            f"the examples are in {code_dir}/")
    return f"there is no example named {name} ({hint})"


@dataclass
class Example:
    """One example script."""

    path: Path
    name: str = ""
    title: str = ""
    summary: str = ""
    measures_time: bool = False

    def __post_init__(self):
        self.path = Path(self.path)
        self.name = self.name or self.path.stem
        if not self.title:
            self.title, self.summary = read_title(self.path)
        self.measures_time = self.measures_time or measures_time(self.path)


def read_title(path: Path) -> tuple[str, str]:
    """Title and one-paragraph summary from the first markdown cell.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "demo.py"
    >>> _ = p.write_text('# %% [markdown]\\n# # A title\\n#\\n# Some words\\n'
    ...                  '# more words.\\n#\\n# Later text.\\n')
    >>> read_title(p)
    ('A title', 'Some words more words.')
    """
    title, summary, lines = "", [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%") and lines:
            break
        if line.startswith("# %%"):
            continue
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    for text in lines:
        if text.startswith("# ") and not title:
            title = text[2:].strip()
        elif title and text:
            summary.append(text)
        elif title and summary:
            break
    if not title:
        raise ExampleError(
            f"{path}: an example must start with a markdown cell whose first "
            "line is its title ('# %% [markdown]' then '# # Title')")
    return title, " ".join(summary)


def measures_time(path: Path) -> bool:
    """Whether the example records wall-clock timings (``Report.timings``):
    such an example runs alone, so no other example disturbs its clock.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "demo.py"
    >>> _ = p.write_text("report.timings(seconds=1.0)\\n")
    >>> measures_time(p)
    True
    >>> _ = p.write_text("report.values(timings=1)  # .timings( in text\\n")
    >>> measures_time(p)
    False
    """
    text = path.read_text(encoding="utf-8")
    if ".timings" not in text:
        return False  # no need to parse it
    tree = parse(path, text)
    return any(isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute)
               and node.func.attr == "timings" for node in ast.walk(tree))


def discover(examples_dir) -> list[Example]:
    """Every example in ``examples_dir`` (``*.py`` not starting with _)."""
    paths = sorted(Path(examples_dir).glob("*.py"))
    return [Example(p) for p in paths if not p.name.startswith("_")]

def output_cell(path: Path, file: str) -> int | None:
    """The code cell of an example (from 1, as the gallery page numbers
    them: ``#cell-n``) that makes ``file``, a figure (``<name>.svg``) or a
    table (``<name>.md``): the cell that calls ``report.figure`` or
    ``report.table`` with that name written out, else the first that
    writes the name as a string (a helper that makes the table, given its
    name); None where no cell does.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "e.py"
    >>> _ = p.write_text('# %% [markdown]\\n# # T\\n\\n# %%\\nx = "t"\\n\\n'
    ...                  '# %%\\nreport.figure(fig, "curve")\\n'
    ...                  'report.table("t", h, rows)\\n\\n# %%\\n'
    ...                  'helper(report, "u")\\n')
    >>> [output_cell(p, f) for f in ("curve.svg", "t.md", "u.md", "v.md")]
    [2, 2, 3, None]
    """
    stem, _, suffix = file.rpartition(".")
    method, at = {"svg": ("figure", 1), "md": ("table", 0)}.get(
        suffix, (None, None))
    loose = None
    for number, tree in enumerate(_code_cells(path), 1):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and \
                    isinstance(node.func, ast.Attribute) and \
                    isinstance(node.func.value, ast.Name) and \
                    node.func.value.id == "report" and \
                    node.func.attr == method and len(node.args) > at and \
                    _is_text(node.args[at], stem):
                return number
            if loose is None and _is_text(node, stem):
                loose = number
    return loose


def _is_text(node, text) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def _code_cells(path: Path) -> list[ast.Module]:
    """The parsed code cells of a percent-format example, in order (one
    that does not parse, as an empty module)."""
    cells, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            if current is not None:
                cells.append(current)
            current = None if "[markdown]" in line else []
        elif current is not None:
            current.append(line)
    if current is not None:
        cells.append(current)
    trees = []
    for lines in cells:
        try:
            trees.append(ast.parse("\n".join(lines)))
        except SyntaxError:
            trees.append(ast.Module(body=[], type_ignores=[]))
    return trees
