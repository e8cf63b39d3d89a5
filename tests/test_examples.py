"""Every example, as the build ran it in fast mode (the notebook a reader
downloads, see docs_plugin/standalone.py), wrote what the pages need.
`pytest -k <example>` checks that example only (the site is built)."""

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from docs_plugin.examples import discover
from snippets.support.settings import TIMINGS, VALUES
from testkit import EXAMPLES, PYTHON, ROOT, fast_env, referenced_outputs

EXAMPLE_NAMES = [e.name for e in discover(EXAMPLES)]


def test_examples_exist():
    assert EXAMPLE_NAMES, "no examples found in examples/"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example(name, build):
    """Wrote every output the pages use: parseable figures with something
    drawn, well-formed tables, every value."""
    folder = build.outputs(name)
    refs = referenced_outputs().get(name, {"files": set(), "values": set()})
    assert any(folder.iterdir()), f"{name} wrote nothing"
    for rel in refs["files"]:
        assert (folder / rel).is_file(), f"{name} did not write {rel}"
    for svg in sorted(folder.glob("*.svg")):
        root = ET.parse(svg).getroot()  # a real, parseable SVG ...
        paths = root.findall(".//{http://www.w3.org/2000/svg}path")
        assert len(paths) > 10, f"{svg.name} has almost nothing drawn"
    for table in folder.glob("*.md"):
        lines = table.read_text().splitlines()
        assert len(lines) >= 3 and set(lines[1]) <= set("|-: "), table.name
    if refs["values"]:
        values = {}
        for filename in (VALUES, TIMINGS):
            if (folder / filename).is_file():
                values.update(json.loads((folder / filename).read_text()))
        missing = refs["values"] - set(values)
        assert not missing, f"pages use values {name} never writes: {missing}"


def test_mlp_learns_in_fast_mode(build):
    """Both MLPs beat chance (10%) even after the fast run's few steps."""
    folder = build.outputs("mlp_batchnorm")
    values = json.loads((folder / VALUES).read_text())
    for key in ("accuracy_bn", "accuracy_plain"):
        assert float(values[key].rstrip("%")) > 20, values
    assert values["steps"] == "60"
    table = (folder / "results.md").read_text()
    assert re.search(r"\| with BN \| \d\.\d{3} \| \d+\.\d\d% \|", table)
    assert re.search(r"\| without BN \| \d\.\d{3} \| \d+\.\d\d% \|", table)


@pytest.mark.parametrize("variable, value", [
    ("DOCS_FAST", "yes"), ("DOCS_FAST", "2"),
    ("DOCS_OUTPUT_DIR", "/etc/hostname"), ("DOCS_DATA_DIR", "/etc/hostname"),
])
def test_bad_setting_stops_an_example_in_one_line(variable, value, tmp_path):
    """The variables an example reads (the build's own, such as DOCS_JOBS,
    mean nothing to it: snippets/support/settings.py)."""
    env = fast_env(DOCS_OUTPUT_DIR=str(tmp_path))
    env[variable] = value
    result = subprocess.run(
        [PYTHON, str(EXAMPLES / "bn_worked_example.py")], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}={value!r} is not valid")


def test_cost_table_is_sane(build):
    """The timing table has every implementation and positive times, and
    the fused nn.BatchNorm2d is the baseline (1.0x)."""
    table = (build.outputs("bn_cost") / "timing_cost.md").read_text()
    table = table.replace("\\_", "_")  # cells are Markdown-escaped
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    assert [r[0] for r in rows] == ["nn.BatchNorm2d",
                                    "BatchNorm (from scratch)",
                                    "batch_norm_manual (hand backward)"]
    assert rows[0][2] == "1.0x"
    assert all(float(r[1]) > 0 and float(r[2].rstrip("x")) > 0 for r in rows)


def test_fold_timing_table_is_sane(build):
    table = (build.outputs("inference_fold") / "timing_fold.md").read_text()
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    assert [r[0] for r in rows] == ["1", "16", "256"]
    for _, median, spread in rows:
        low, high = (float(v.rstrip("x")) for v in spread.split(" to "))
        assert 0 < low <= float(median.rstrip("x")) <= high
