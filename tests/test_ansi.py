"""ANSI SGR → escaped HTML with classes only; anything else in a log is text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobs import ansi


def test_colours_and_flags_become_classes() -> None:
    html = ansi.to_html("\x1b[1;31mbold red\x1b[22m red\x1b[0m plain \x1b[92;44mbright\x1b[39;49m x")
    assert html == ('<span class="ansi-bold ansi-fg-1">bold red</span><span class="ansi-fg-1"> red</span> plain '
                    '<span class="ansi-fg-10 ansi-bg-4">bright</span> x')


def test_256_and_true_colour_map_to_the_palette() -> None:
    assert ansi.segments("\x1b[38;5;9ma\x1b[38;5;196mb\x1b[38;2;0;0;255mc") == [
        ("a", "ansi-fg-9"), ("b", "ansi-fg-9"), ("c", "ansi-fg-12")]


def test_html_is_escaped_and_other_sequences_dropped() -> None:
    html = ansi.to_html('<script>alert("x")</script>\x1b[2K\x1b]8;;http://evil\x07link\x1b]8;;\x07\x07\x00 & done')
    assert html == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;link &amp; done"
    assert 'style' not in ansi.to_html("\x1b[38;2;1;2;3mx")


def test_carriage_returns_keep_what_a_terminal_shows() -> None:
    assert ansi.strip("progress 10%\rprogress 100%\r\n") == "progress 100%"


@given(st.text())
def test_no_tag_or_escape_survives(text: str) -> None:
    html = str(ansi.to_html(text))
    stripped = html
    for piece in ('<span class="', '">', "</span>"):
        stripped = stripped.replace(piece, "")
    assert "<" not in stripped.replace("&lt;", "") and "\x1b" not in html
