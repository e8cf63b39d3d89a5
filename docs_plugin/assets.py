"""KaTeX, served from ``node_modules`` (installed by npm) so that math
renders without a CDN."""

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

KATEX_FILES = ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js"]


def check_katex(folder: Path) -> None:
    if not (folder / "katex.min.js").is_file():
        raise PluginError(
            f"KaTeX not found in {folder}: run `npm ci` (or `make setup`)"
            " so that math renders without a CDN")


def add_katex(files, config, folder: Path) -> None:
    """Serve KaTeX's scripts, stylesheet and fonts under assets/katex/."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel in KATEX_FILES or rel.startswith("fonts/"):
            files.append(File.generated(
                config, f"assets/katex/{rel}", abs_src_path=str(path)))
