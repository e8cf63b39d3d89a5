"""What the site serves from each example's run: its figures under
``generated/<example>/``, its values and claims (read for the pages), its
gallery notebook (with its figures as files beside it, and a thumbnail of
the first), and its two downloads.

Every file comes from the run's cache entry, which the runner checked
against its record before handing it over.
"""

import base64
import hashlib
import io
import json
import logging
import os
import secrets
import shutil

import nbformat
from mkdocs.structure.files import File

from snippets.support.settings import CLAIMS, TIMINGS, VALUES

# The gallery's cards show each example's first figure at this width (twice
# a card's width, for sharp screens), as a PNG: the full-size SVGs of 37
# examples would make the gallery index weigh about 2 MB.
THUMBNAIL, THUMBNAIL_WIDTH = "thumbnail.png", 480
MANIFEST = "manifest.json"  # of a light notebook's folder
log = logging.getLogger("mkdocs.plugins.examples")


def thumbnail(png: bytes) -> bytes:
    """A small copy of a figure's PNG: at most THUMBNAIL_WIDTH wide, on
    white (as the figures are shown), in 64 colours (a plot has few; the
    full palette of a resampled image would compress worse than the
    original)."""
    from PIL import Image  # only when a notebook is rendered anew

    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGBA")
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A"))
    if flat.width > THUMBNAIL_WIDTH:
        flat = flat.resize(
            (THUMBNAIL_WIDTH,
             round(flat.height * THUMBNAIL_WIDTH / flat.width)),
            Image.Resampling.LANCZOS)
    out = io.BytesIO()
    flat.quantize(64).save(out, format="PNG", optimize=True)
    return out.getvalue()


def read_results(run) -> tuple[dict, dict]:
    """``(values, claims)`` an example recorded (timings count as
    values)."""
    values = {}
    for filename in (VALUES, TIMINGS):
        path = run.outputs / filename
        if path.is_file():
            values.update(json.loads(path.read_text("utf-8")))
    path = run.outputs / CLAIMS
    claims = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return values, claims


def register(state, files, config) -> None:
    """Add every run's files to the site and read its results into
    ``state``; failed examples (serving) get their partial notebook."""
    light = state.runner.base / "light"
    used = set()
    for name, run in state.runs.items():
        for rel in run.files:
            if rel.endswith(".md"):
                continue  # tables are included into pages, not pages
            files.append(File.generated(
                config, f"generated/{name}/{rel}",
                abs_src_path=str(run.outputs / rel)))
        state.values[name], state.claims[name] = read_results(run)
        folder = _light_notebook(state, run, files, config)
        used.add(folder.name)
        # A plain File, not File.generated: mkdocs-jupyter wraps it and
        # the wrapper only finds the path through src_dir.
        files.append(File(
            f"gallery/{name}.ipynb", src_dir=str(folder),
            dest_dir=config.site_dir,
            use_directory_urls=config.use_directory_urls))
        files.append(File.generated(
            config, f"downloads/{name}.py",
            abs_src_path=str(run.download_script)))
        files.append(File.generated(
            config, f"downloads/{name}.ipynb",
            abs_src_path=str(run.download_notebook)))
    for folder in light.iterdir() if light.is_dir() else []:
        if folder.name not in used:
            shutil.rmtree(folder, ignore_errors=True)
    for name, error in state.failures.items():
        # Serving only: the failed example's page shows its notebook up
        # to the failing cell, under an error card (gallery_pages).
        failed = state.runner.base / "failed"
        notebook = failed / "gallery" / f"{name}.ipynb"
        notebook.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(error.notebook or nbformat.v4.new_notebook(),
                       notebook)
        files.append(File(
            f"gallery/{name}.ipynb", src_dir=str(failed),
            dest_dir=config.site_dir,
            use_directory_urls=config.use_directory_urls))


def _light_notebook(state, run, files, config):
    """A copy of the executed notebook whose figures are files served
    beside the page, not base64 text inside it, with a thumbnail of the
    first; returns the folder to serve it from
    (``<folder>/gallery/<name>.ipynb``). The folder is named by the
    notebook's digest and kept: a later build checks its files against
    its manifest and makes it again only when one is missing or
    changed."""
    name = run.example.name
    cache = state.runner.cache
    digest = cache.digest(run.notebook)[:16]
    folder = state.runner.base / "light" / f"{name}.{digest}"
    manifest = _verified(cache, folder)
    if manifest is None:
        manifest = _make_light(run, folder)
    for rel in manifest["images"]:
        files.append(File.generated(config, f"generated/{name}/{rel}",
                                    abs_src_path=str(folder / rel)))
    if THUMBNAIL in manifest["images"]:
        state.thumbnails.add(name)
    return folder


def _verified(cache, folder):
    """The manifest of a light-notebook folder whose files are all there
    as they were made, else None (with a line saying what was wrong)."""
    path = folder / MANIFEST
    if not folder.is_dir():
        return None
    try:
        manifest = json.loads(path.read_text("utf-8"))
        for rel, digest in manifest["files"].items():
            if cache.digest(folder / rel) != digest:
                raise ValueError(f"{rel} was changed")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.info(f"rendered notebook {folder.name}: {error}; making it "
                 "again")
        return None
    return manifest


def _make_light(run, folder):
    """Write the light notebook, its figures and thumbnail and, last, the
    manifest into a new folder, then put it in place of ``folder``."""
    name = run.example.name
    notebook = nbformat.read(run.notebook, as_version=4)
    made, images = {}, []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            rel = f"notebook-{len(images) + 1}.png"
            png = base64.b64decode(data.pop("image/png"))
            made[rel] = png
            images.append(rel)
            if len(images) == 1:  # the gallery's cards show a small copy
                made[THUMBNAIL] = thumbnail(png)
                images.append(THUMBNAIL)
            data["text/html"] = (
                f'<img src="../../generated/{name}/{rel}" alt="Figure '
                f'{rel[9:-4]} of the example {name}">')
    made[f"gallery/{name}.ipynb"] = nbformat.writes(notebook).encode()
    fresh = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.tmp")
    (fresh / "gallery").mkdir(parents=True)
    for rel, data in made.items():
        (fresh / rel).write_bytes(data)
    manifest = {"images": images, "files": {
        rel: hashlib.sha256(data).hexdigest() for rel, data in made.items()}}
    (fresh / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(fresh, folder)
    return manifest
