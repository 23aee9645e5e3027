"""Just enough PDF reading for tests (no PDF library is a dependency): page count from the page
tree, and the text shown, from the (zlib) content streams' string operands."""

from __future__ import annotations

import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
STRING = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj")


def page_count(pdf: bytes) -> int:
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    declared = re.search(rb"/Count\s+(\d+)[^>]*/Type\s*/Pages|/Type\s*/Pages[^>]*/Count\s+(\d+)", pdf, re.S)
    if declared and int(declared.group(1) or declared.group(2)) != pages:
        raise ValueError(f"page tree says {declared.group(1) or declared.group(2)} pages, found {pages} page objects")
    return pages


def text(pdf: bytes) -> str:
    shown = []
    for raw in STREAM.findall(pdf):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        shown += [s.replace(rb"\(", b"(").replace(rb"\)", b")").decode("latin-1") for s in STRING.findall(content)]
    return "\n".join(shown)
