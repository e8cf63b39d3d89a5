"""The reader's path: every notebook and script the site offers runs where
it lands (an empty folder, a Python in which this project is not
importable), and so does an example out of the zip of all examples. The
gallery is organized by topic, and its pages are light.

The build runs each example as the notebook a reader downloads
(docs_plugin/standalone.py), in a kernel that may not import this
project's modules from disk (test_build.py checks that it fails when one
would); here the site is checked to serve exactly those notebooks, the
pages to show their cells, the scripts to hold the same code, and a few
scripts to write the build's bytes when run as a reader would."""

import json
import re
import shutil
import subprocess
import zipfile

import jupytext
import nbformat
import pytest

from docs_plugin import downloads, standalone
from docs_plugin.examples import discover
from snippets.support.settings import is_timing
from testkit import EXAMPLES, ROOT

EXAMPLES_FOUND = discover(EXAMPLES)


def same_outputs(ours, theirs):
    """Names of the files that differ (timings excepted)."""
    names = sorted(p.name for p in ours.iterdir())
    assert names == sorted(p.name for p in theirs.iterdir())
    return [n for n in names if not is_timing(n)
            and (ours / n).read_bytes() != (theirs / n).read_bytes()]


def test_the_reader_python_cannot_import_this_project(reader, tmp_path):
    command, env = reader
    result = subprocess.run(
        command + ["-c", "import torch, torchvision, matplotlib\n"
                   "import snippets"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120)
    assert "No module named 'snippets'" in result.stderr


def test_the_site_serves_the_notebooks_the_build_ran(build):
    """The downloads are the self-contained notebooks (the helpers inside),
    and each gallery page shows that notebook's own cells, as run."""
    for example in EXAMPLES_FOUND:
        served = build.site / "downloads" / f"{example.name}.ipynb"
        kept = build.outputs(example.name).parent
        assert served.read_bytes() == (kept / standalone.NOTEBOOK).read_bytes()
        script = build.site / "downloads" / f"{example.name}.py"
        assert script.read_bytes() == (kept / standalone.SCRIPT).read_bytes()
        # ... and it is the notebook these sources make now.
        assembled = standalone.assemble(example, ROOT)
        assert served.read_text() == nbformat.writes(assembled.notebook)
        assert script.read_text() == jupytext.writes(assembled.notebook,
                                                     fmt="py:percent")
        notebook = nbformat.read(served, as_version=4)
        bundled = assembled.bundled
        ran = nbformat.read(build.gallery_notebook(example.name), 4)
        assert [c.source for c in ran.cells] == [
            c.source for c in notebook.cells[:1] + notebook.cells[bundled:]]
        counts = [c.execution_count for c in ran.cells
                  if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), example.name
        added = "".join(c.source for c in notebook.cells[1:bundled])
        for module, rel, _ in standalone.helpers(example, ROOT):
            assert f"bundled.add({module!r}, {rel!r}" in added


def test_a_pages_notebook_has_one_output_per_stream():
    """The kernel sends a cell's prints in chunks that depend on timing;
    the page shows them as one output, so two builds are the same."""
    cells = [nbformat.v4.new_markdown_cell("# Title"),
             nbformat.v4.new_code_cell("helper", execution_count=1),
             nbformat.v4.new_code_cell("print(1); print(2)",
                                       execution_count=2),
             nbformat.v4.new_code_cell("pass", execution_count=3)]
    cells[2].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stdout", text=["2\n"]),
        nbformat.v4.new_output("stream", name="stderr", text="warn\n"),
        nbformat.v4.new_output("execute_result", {"text/plain": "3"},
                               execution_count=2)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    own = standalone.own_cells(notebook, bundled=2)
    assert [c.source for c in own.cells] == ["# Title", "print(1); print(2)",
                                             "pass"]
    assert [c.execution_count for c in own.cells[1:]] == [1, 2]
    outputs = own.cells[1].outputs
    assert [(o.output_type, o.get("name")) for o in outputs] == [
        ("stream", "stdout"), ("stream", "stderr"), ("execute_result", None)]
    assert outputs[0].text == "1\n2\n"
    assert outputs[2].execution_count == 1
    assert len(notebook.cells[2].outputs) == 4  # the original is unchanged


def test_each_script_holds_its_notebooks_cells(build):
    for example in EXAMPLES_FOUND:
        name = example.name
        notebook = nbformat.read(build.site / f"downloads/{name}.ipynb", 4)
        script = jupytext.read(build.site / f"downloads/{name}.py")
        assert [(c.cell_type, c.source) for c in script.cells] == \
            [(c.cell_type, c.source) for c in notebook.cells], name
        sources = "".join(c.source for c in notebook.cells)
        assert "import snippets" not in sources.split("bundled.add")[0]
        assert "--8<--" not in sources


# Fresh processes: the build (and the notebooks' runs) fork warm kernels,
# so these also show that a fresh start writes the same bytes, for
# examples that train on Fashion-MNIST and that launch processes too.
@pytest.mark.parametrize("name", ["bn_worked_example", "inference_switches",
                                  "norm_equivalences", "mlp_batchnorm",
                                  "practice_data_parallel"])
def test_a_script_runs_where_it_lands(name, build, reader, tmp_path):
    command, env = reader
    shutil.copy(build.site / f"downloads/{name}.py", tmp_path)
    result = subprocess.run(command + [f"{name}.py"], cwd=tmp_path,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # Nothing written anywhere else, but Fashion-MNIST fetched the
    # reader's way (here: Debian's files copied) by examples that read it.
    assert {p.name for p in tmp_path.iterdir()} - {"data"} == {
        "_output", f"{name}.py"}
    assert all(p.parent == tmp_path / "data/FashionMNIST/raw"
               for p in tmp_path.glob("data/**/*") if p.is_file())
    assert same_outputs(tmp_path / "_output" / name,
                        build.outputs(name)) == []


def test_an_example_out_of_the_zip_runs(build, reader, tmp_path):
    """Unzipped anywhere, an example runs from the folder, finds the
    helpers beside it, and gets Fashion-MNIST the reader's way (here:
    Debian's files, copied into data/)."""
    command, env = reader
    with zipfile.ZipFile(build.site / "downloads/bn-examples.zip") as z:
        names = z.namelist()
        z.extractall(tmp_path)
    folder = tmp_path / "bn-examples"
    for example in EXAMPLES_FOUND:
        assert f"bn-examples/{example.path.name}" in names
        assert f"bn-examples/{example.name}.ipynb" in names
    assert "bn-examples/requirements.txt" in names
    assert "bn-examples/README.md" in names
    result = subprocess.run(command + ["bn_four_steps.py"], cwd=folder,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "data/FashionMNIST/raw/t10k-images-idx3-ubyte").is_file()
    assert same_outputs(folder / "_output/bn_four_steps",
                        build.outputs("bn_four_steps")) == []


def test_the_zip_is_the_same_at_every_build(build):
    zipped = (build.site / "downloads/bn-examples.zip").read_bytes()
    notebooks = [(e, (build.site / f"downloads/{e.name}.ipynb").read_text())
                 for e in EXAMPLES_FOUND]
    assert zipped == downloads.download_all(notebooks, ROOT)


def test_no_download_carries_the_build_tool(build):
    """Readers get the examples and their helpers, never docs_plugin/."""
    with zipfile.ZipFile(build.site / "downloads/bn-examples.zip") as zipped:
        names = zipped.namelist()
        texts = [zipped.read(n).decode() for n in names
                 if n.endswith((".py", ".ipynb"))]
    assert not [n for n in names if "docs_plugin" in n]
    texts += [p.read_text() for p in (build.site / "downloads").glob("*.*")
              if p.suffix in (".py", ".ipynb")]
    assert len(texts) > 2 * len(EXAMPLES_FOUND)
    imports = re.compile(r"^\s*(?:from|import) docs_plugin|bundled\.add\("
                         r"'docs_plugin", re.M)
    assert [t[:80] for t in texts if imports.search(t)] == []


# --- the gallery --------------------------------------------------------------

def test_the_gallery_is_organized_by_topic(build):
    index = (build.site / "gallery/index.html").read_text()
    headings = re.findall(r'<h2 id="[^"]*">([^<]*)<', index)
    assert headings[:3] == ["The algorithm",
                            "Inference: eval() and running statistics",
                            "Which layer: BatchNorm, LayerNorm, GroupNorm..."
                            ], headings
    assert 'href="../downloads/bn-examples.zip"' in index
    # Every example is on the index once, and in the navigation.
    for example in EXAMPLES_FOUND:
        assert index.count(f'href="../{example.name}/"') >= 1 or \
            index.count(f'href="{example.name}/"') >= 1, example.name


def test_each_page_ends_with_the_examples_it_uses(build):
    page = (build.site / "algorithm/index.html").read_text()
    tail = page[page.index('id="examples-on-this-page"'):]
    for name in ("bn_per_feature", "bn_four_steps", "bn_backward"):
        assert f'href="../gallery/{name}/"' in tail, name
    assert "inference_fold" not in tail


def test_pages_are_light(build):
    """Every gallery page at most 200 KB of HTML; no page over 1.5 MB
    with the images and stylesheets it loads from this site."""
    site = build.site
    for html_path in site.rglob("*.html"):
        html = html_path.read_text(encoding="utf-8")
        rel = html_path.relative_to(site).as_posix()
        if rel.startswith("gallery/") and rel != "gallery/index.html":
            assert len(html.encode()) <= 200_000, (rel, len(html))
        total = len(html.encode())
        for ref in set(re.findall(r'(?:src|href)="([^"#?]+\.(?:svg|png|css))"',
                                  html)):
            if ref.startswith(("http:", "https:")):
                continue
            target = (html_path.parent / ref).resolve()
            if target.is_file():
                total += target.stat().st_size
        assert total <= 1_500_000, (rel, total)


def test_gallery_cards_show_small_thumbnails(build):
    """The cards show each example's first figure as a small PNG, not the
    full-size SVG."""
    from PIL import Image
    site = build.site
    html = (site / "gallery/index.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert images and all(i.endswith("/thumbnail.png") for i in images), \
        images
    for ref in images:
        with Image.open(site / "gallery" / ref) as image:
            assert image.width <= 480 and image.mode == "P", (ref, image)
        full = (site / "gallery" / ref).with_name("notebook-1.png")
        assert (site / "gallery" / ref).stat().st_size < \
            full.stat().st_size, ref


def test_gallery_pages_share_one_notebook_stylesheet(build):
    page = (build.site / "gallery/mlp_batchnorm/index.html").read_text()
    assert '<style type="text/css">' not in page
    assert 'href="../../assets/notebook.css"' in page
    css = (build.site / "assets/notebook.css").read_text()
    assert "jp-Notebook" in css and 'data-md-color-scheme="slate"' in css
    assert "data:image/png;base64" not in page  # figures are files
    assert 'src="../../generated/mlp_batchnorm/notebook-1.png"' in page


def test_colab_links_follow_the_repository(tiny):
    config = tiny.root / "mkdocs.yml"
    config.write_text("repo_url: https://github.com/someone/bn-site\n"
                      + config.read_text())
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    page = (site / "gallery/tiny/index.html").read_text()
    assert ('href="https://colab.research.google.com/github/someone/bn-site/'
            'blob/notebooks/tiny.ipynb"') in page
    # The notebook's first code cell installs only what is missing.
    notebook = json.loads((site / "downloads/tiny.ipynb").read_text())
    first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    assert "find_spec" in "".join(first["source"])
    pages = (ROOT / ".github/workflows/pages.yml").read_text()
    assert "notebooks" in pages  # the workflow publishes that branch
