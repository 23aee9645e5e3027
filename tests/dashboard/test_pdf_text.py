"""The tests' PDF reader finds every page's text, whatever bytes its compressed stream ends in."""

from __future__ import annotations

import re
import zlib

from tests.dashboard.pdf_text import page_count, text


def _pdf(line: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, line)
    return bytes(pdf.output())


def test_text_survives_a_stream_that_ends_in_a_carriage_return() -> None:
    """One stream in ~256 ends in a CR byte, which a search for "endstream" takes for the line
    break: the page's text was then lost, and the Reports test failed now and then."""
    for n in range(20_000):
        line = f"Chicago traffic crashes report {n}"
        pdf = _pdf(line)
        content = re.search(rb"/Length (\d+)\s*>>\s*stream\r?\n", pdf)
        assert content is not None
        raw = pdf[content.end() : content.end() + int(content.group(1))]
        if raw.endswith(b"\r"):
            break
    else:
        raise AssertionError("no variant of the line compressed to a stream ending in CR")
    assert zlib.decompress(raw)  # the bytes by /Length are the whole stream
    assert line in text(pdf).splitlines()
    assert page_count(pdf) == 1
