"""``Accept-Language`` (RFC 9110 section 12.5.4): which of our languages the browser asks for first."""

from __future__ import annotations

from collections.abc import Sequence

#: A header longer than this is read only this far (browsers send a few dozen characters).
MAX_HEADER = 512


def negotiate(header: str | None, supported: Sequence[str]) -> str | None:
    """The supported language the header ranks highest (``ru-RU,ru;q=0.9,en;q=0.8`` -> ``ru``), or None.

    Ranges are matched by their primary subtag; ``*`` and ``q=0`` choose nothing; equal weights keep the header's
    order; malformed entries are skipped.
    """
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((header or "")[:MAX_HEADER].split(",")):
        tag, *params = (part.strip() for part in item.split(";"))
        language = tag.split("-", 1)[0].lower()
        if language not in supported:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if not 0 < weight <= 1:
            continue
        if best is None or (-weight, position) < (-best[0], best[1]):
            best = (weight, position, language)
    return best[2] if best else None
