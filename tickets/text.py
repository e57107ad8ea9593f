"""What counts as text: blank text (white space and invisible characters only), and one line of text."""

from __future__ import annotations

import unicodedata

#: Default-ignorable code points outside Unicode's Cf category: the combining grapheme joiner, Hangul fillers and
#: the Khmer inherent vowels. With format characters (Cf: U+200B, U+2060, U+FEFF, bidi controls, ...), variation
#: selectors and white space, they show nothing.
_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
#: Line and paragraph separators end a line as surely as LF does.
_LINE_BREAKS = frozenset("\u2028\u2029")


def invisible(char: str) -> bool:
    """Whether ``char`` shows nothing: white space, a control or format character, a filler, a variation selector."""
    code = ord(char)
    return (
        char.isspace()
        or unicodedata.category(char) in ("Cf", "Cc")
        or char in _FILLERS
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


def is_blank(text: str | None) -> bool:
    """True for None, ``""`` and text made only of :func:`invisible` characters (``"\\u200b"``, ``" \\ufeff"``)."""
    return text is None or all(invisible(c) for c in text)


def line_break_or_control(text: str) -> str | None:
    """The first control character (Unicode Cc: CR, LF, TAB, ESC, DEL, NEL, ...) or line/paragraph separator in
    ``text``, or None: what one line of text (a name, a title) may not hold."""
    return next((c for c in text if c in _LINE_BREAKS or unicodedata.category(c) == "Cc"), None)
