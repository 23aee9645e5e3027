"""Just enough PDF reading for tests (no PDF library is a dependency): page count from the page
tree, and the text shown, from the (zlib) content streams' string operands."""

from __future__ import annotations

import re
import zlib

# A stream's bytes are the /Length after its dictionary: searching for "endstream" instead would
# drop a final CR byte of the compressed data as part of the line break, and then that page's
# text would be lost (about one stream in 256, depending on the bytes).
STREAM = re.compile(rb"<<([^<>]*)>>\s*stream\r?\n")
LENGTH = re.compile(rb"/Length\s+(\d+)(\s+\d+\s+R)?")
STRING = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj")


def page_count(pdf: bytes) -> int:
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    declared = re.search(rb"/Count\s+(\d+)[^>]*/Type\s*/Pages|/Type\s*/Pages[^>]*/Count\s+(\d+)", pdf, re.S)
    if declared and int(declared.group(1) or declared.group(2)) != pages:
        raise ValueError(f"page tree says {declared.group(1) or declared.group(2)} pages, found {pages} page objects")
    return pages


def text(pdf: bytes) -> str:
    shown = []
    for match in STREAM.finditer(pdf):
        length = LENGTH.search(match.group(1))
        if length is None or length.group(2):
            raise ValueError(f"a stream at byte {match.start()} has no direct /Length")
        raw = pdf[match.end() : match.end() + int(length.group(1))]
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        shown += [s.replace(rb"\(", b"(").replace(rb"\)", b")").decode("latin-1") for s in STRING.findall(content)]
    return "\n".join(shown)
