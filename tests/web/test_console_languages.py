"""Every console string exists in English, Russian and Thai: the catalogs have the same keys, every key the page
and its modules use is in them, and no translation loses a placeholder."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

CONSOLE = ROOT / "web" / "console"
PAIR = re.compile(r'"([^"]+)":\s*"((?:[^"\\]|\\.)*)"')


def catalog(language: str) -> dict[str, str]:
    text = (CONSOLE / "lang" / f"{language}.js").read_text(encoding="utf-8")
    return dict(PAIR.findall(text))


def used_keys() -> set[str]:
    keys: set[str] = set()
    for module in CONSOLE.rglob("*.js"):
        if module.parent.name != "lang":
            keys |= set(re.findall(r'\bt\("([^"]+)"', module.read_text(encoding="utf-8")))
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'data-i18n(?:-label|-placeholder)?="([^"]+)"', page))
    return keys - {"key"}  # "key" is the example in i18n.js's docstring


def test_russian_and_thai_have_exactly_the_english_keys_with_the_same_placeholders() -> None:
    en = catalog("en")
    assert len(en) > 200
    for language in ("ru", "th"):
        other = catalog(language)
        assert set(other) == set(en), (language, set(en) ^ set(other))
        for key, text in en.items():
            assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), (language, key)
            assert other[key].strip(), (language, key)
    assert re.search("[а-я]", catalog("ru")["ticket.save"])
    assert re.search("[\u0e00-\u0e7f]", catalog("th")["ticket.save"])


def test_every_key_the_console_uses_is_in_the_catalog() -> None:
    missing = used_keys() - set(catalog("en"))
    assert not missing
