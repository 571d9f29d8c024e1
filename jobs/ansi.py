"""ANSI SGR colour codes → escaped HTML spans with classes (never inline styles: CSP).

Log text is untrusted: every character that is not part of a recognised escape
sequence is HTML-escaped; every other escape or control sequence is dropped.
`static/js/joblog.js` mirrors these rules for lines that arrive live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes.
_ESCAPE = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
# C0 controls other than tab; DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class _State:
    fg: int | None = None
    bg: int | None = None
    flags: set[str] = field(default_factory=set)

    def classes(self) -> str:
        names = sorted(f"ansi-{flag}" for flag in self.flags)
        if self.fg is not None:
            names.append(f"ansi-fg-{self.fg}")
        if self.bg is not None:
            names.append(f"ansi-bg-{self.bg}")
        return " ".join(names)


def _nearest16(r: int, g: int, b: int) -> int:
    """Colour cube / true colour → nearest of the 16 classes (we cannot emit arbitrary colours)."""
    high = max(r, g, b)
    if high < 64:
        return 0
    if max(r, g, b) - min(r, g, b) < 40:  # a grey
        return 8 if high < 150 else (7 if high < 220 else 15)
    index = (1 if r >= high * 0.6 else 0) | (2 if g >= high * 0.6 else 0) | (4 if b >= high * 0.6 else 0)
    return index + (8 if high >= 200 else 0)


def _from256(n: int) -> int:
    if n < 16:
        return n
    if n >= 232:
        level = 8 + (n - 232) * 10
        return _nearest16(level, level, level)
    n -= 16
    steps = (0, 95, 135, 175, 215, 255)
    return _nearest16(steps[n // 36], steps[(n // 6) % 6], steps[n % 6])


_FLAG_ON = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "inverse", 9: "strike"}
_FLAG_OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("inverse",), 29: ("strike",)}


def _apply_sgr(state: _State, params: str) -> None:
    codes = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            state.fg, state.bg, state.flags = None, None, set()
        elif code in _FLAG_ON:
            state.flags.add(_FLAG_ON[code])
        elif code in _FLAG_OFF:
            state.flags.difference_update(_FLAG_OFF[code])
        elif 30 <= code <= 37:
            state.fg = code - 30
        elif 90 <= code <= 97:
            state.fg = code - 90 + 8
        elif 40 <= code <= 47:
            state.bg = code - 40
        elif 100 <= code <= 107:
            state.bg = code - 100 + 8
        elif code == 39:
            state.fg = None
        elif code == 49:
            state.bg = None
        elif code in (38, 48):
            colour: int | None = None
            if i + 2 < len(codes) and codes[i + 1] == 5:
                colour = _from256(codes[i + 2] % 256)
                i += 2
            elif i + 4 < len(codes) and codes[i + 1] == 2:
                colour = _nearest16(*(min(c, 255) for c in codes[i + 2 : i + 5]))
                i += 4
            if colour is not None:
                if code == 38:
                    state.fg = colour
                else:
                    state.bg = colour
        i += 1


def _visible_tail(text: str) -> str:
    """A carriage return mid-line redraws it (progress bars): keep what a terminal would show."""
    text = text.rstrip("\r\n")
    return text.rsplit("\r", 1)[-1] if "\r" in text else text


def segments(text: str) -> list[tuple[str, str]]:
    """[(plain text, class names)] with escape sequences interpreted or dropped."""
    text = _visible_tail(text)
    state = _State()
    out: list[tuple[str, str]] = []
    pos = 0
    for match in _ESCAPE.finditer(text):
        if match.start() > pos:
            out.append((text[pos : match.start()], state.classes()))
        if match.group(2) == "m":
            _apply_sgr(state, match.group(1) or "")
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], state.classes()))
    cleaned = [(_CONTROL.sub("", chunk), classes) for chunk, classes in out]
    return [(chunk, classes) for chunk, classes in cleaned if chunk]


def to_html(text: str) -> SafeString:
    parts = []
    for chunk, classes in segments(text):
        if classes:
            parts.append(f'<span class="{classes}">{escape(chunk)}</span>')
        else:
            parts.append(str(escape(chunk)))
    return mark_safe("".join(parts))  # noqa: S308 - every piece of log text went through escape()  # nosec B308, B703 - escaped above


def strip(text: str) -> str:
    return "".join(chunk for chunk, _ in segments(text))
