"""The examples read as lessons: a sentence before every cell that shows
something, enough prose, results tables shown as tables, and the cells that
only record values and claims for the site kept at the end."""

import ast
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# Where the bookkeeping starts: the last section of every example.
SITE_HEADING = "## For the site: values and claims"
# Calls that show something in the notebook.
SHOWING = {"print", "display", "figure", "table", "plot", "imshow", "bar",
           "barh", "hist", "scatter", "errorbar", "fill_between", "semilogy",
           "loglog", "heatmap", "show", "step", "axhline", "axvline"}
RECORDING = {"values", "claim"}  # Report's bookkeeping calls


def cells(path):
    return jupytext.read(path).cells


def calls(source):
    """The names of the functions and methods a cell calls."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def report_calls(source):
    """The methods called on ``report``."""
    return {node.func.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "report"}


def shows(source):
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    bare = isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call)
    return bare or bool(calls(source) & SHOWING) \
        or bool(report_calls(source) & {"figure", "table"})


def prose_lines(cell):
    return sum(1 for line in cell.source.splitlines() if line.strip())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_cell_that_shows_something_follows_a_sentence(path):
    previous = None
    for number, cell in enumerate(cells(path), 1):
        if cell.cell_type == "code" and shows(cell.source):
            assert previous == "markdown", (
                f"{path.name}, cell {number}: shows something, and no "
                "sentence before it says what to look for")
        previous = cell.cell_type


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_values_and_claims_are_recorded_after_the_lesson(path):
    found = cells(path)
    headings = [i for i, cell in enumerate(found)
                if cell.cell_type == "markdown"
                and cell.source.startswith(SITE_HEADING)]
    recording = [i for i, cell in enumerate(found)
                 if cell.cell_type == "code"
                 and report_calls(cell.source) & RECORDING]
    if not recording:
        assert not headings, f"{path.name}: a site section with nothing in it"
        return
    assert len(headings) == 1, (
        f"{path.name}: records values or claims, so it ends with one "
        f"section headed {SITE_HEADING!r}")
    start = headings[0]
    assert recording[0] > start, (
        f"{path.name}, cell {recording[0] + 1}: records values or claims in "
        "the middle of the lesson; move it under the site section")
    for number, cell in enumerate(found[start + 1:], start + 2):
        if cell.cell_type == "code":
            assert not (report_calls(cell.source) & {"figure", "table"}), (
                f"{path.name}, cell {number}: a figure or table belongs to "
                "the lesson, before the site section")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_results_tables_are_shown_as_tables(path):
    # Report.table shows the table; printing its rows as Python lists too
    # would show it twice, the second time cut off at the right.
    for number, cell in enumerate(cells(path), 1):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        tabled = {node.args[2].id for node in ast.walk(tree)
                  if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "table" and len(node.args) == 3
                  and isinstance(node.args[2], ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.For) and isinstance(node.iter, ast.Name) \
                    and node.iter.id in tabled:
                assert "print" not in calls(ast.unparse(node)), (
                    f"{path.name}, cell {number}: prints the rows of the "
                    f"table {node.iter.id!r}, which Report.table shows")


def test_the_examples_are_at_least_30_percent_prose():
    shares = {}
    total = {"markdown": 0, "code": 0}
    for path in EXAMPLES:
        count = {"markdown": 0, "code": 0}
        for cell in cells(path):
            count[cell.cell_type] += prose_lines(cell)
        shares[path.stem] = count["markdown"] / sum(count.values())
        for kind in total:
            total[kind] += count[kind]
    overall = total["markdown"] / sum(total.values())
    thin = {name: round(share, 2) for name, share in shares.items()
            if share < 0.25}
    assert overall >= 0.30 and not thin, (
        f"prose is {overall:.0%} of the examples' non-blank lines (at least "
        f"30% wanted); under 25%: {thin}")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_no_lesson_uses_a_word_the_pages_refuse(path):
    # The gallery pages are pages too: "significant" or "proves" is
    # refused there as on the teaching pages (docs_plugin/wording.py).
    from docs_plugin.wording import REFUSED

    for number, cell in enumerate(cells(path), 1):
        if cell.cell_type == "markdown":
            found = REFUSED.search(cell.source)
            assert not found, (f"{path.name}, cell {number}: "
                               f"{found.group(0)!r}")
