"""Every image the site serves from the build gets its width and height in
the HTML, so that the browser keeps its place before it loads and the
page does not jump (the stylesheet still scales it to the column)."""

from __future__ import annotations

import posixpath
import re
import struct
from pathlib import Path

_IMG = re.compile(r'<img\b([^>]*?)\s*(/?)>')
_SRC = re.compile(r'\bsrc="([^"]+)"')
_SVG_SIZE = re.compile(
    rb'<svg\b[^>]*?\bwidth="([\d.]+)(pt|px)?"[^>]*?\bheight="([\d.]+)'
    rb'(pt|px)?"')
_PX_PER = {b"pt": 4 / 3, b"px": 1.0, None: 1.0}


def size_of(path) -> tuple[int, int] | None:
    """``(width, height)`` in CSS pixels of a PNG or SVG, else None.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.svg"
    >>> _ = p.write_text('<svg width="72pt" height="36pt" viewBox="0 0 72 36">')
    >>> size_of(p)
    (96, 48)
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(2048)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if path.suffix == ".svg":
        found = _SVG_SIZE.search(head)
        if found:
            width, wunit, height, hunit = found.groups()
            return (round(float(width) * _PX_PER[wunit]),
                    round(float(height) * _PX_PER[hunit]))
    return None


def with_sizes(content: str, page_url: str, source_of) -> str:
    """``content`` with width and height on each ``<img>`` that has none,
    for the images ``source_of(site_path)`` finds (a file of the build).
    """
    def sized(match):
        attributes = match.group(1)
        src = _SRC.search(attributes)
        if not src or "width=" in attributes or "://" in src.group(1):
            return match.group(0)
        target = posixpath.normpath(posixpath.join(
            posixpath.dirname("/" + page_url), src.group(1))).lstrip("/")
        path = source_of(target)
        size = size_of(path) if path else None
        if size is None:
            return match.group(0)
        return (f'<img{attributes} width="{size[0]}" height="{size[1]}"'
                f'{" /" if match.group(2) else ""}>')
    return _IMG.sub(sized, content)
