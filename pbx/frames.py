"""AMI wire format: frames are ``Key: value`` lines ending in CRLF, separated by an empty line.

Used by the replay server, the tests and the benchmark to read recorded streams; the live connection uses
panoramisk's parser (hardened in ``pbx.connection``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping
from pathlib import Path

EOL = b"\r\n"
END = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"


class MalformedFrame(ValueError):
    """A frame that is not a list of ``Key: value`` lines."""


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete frames at the start of ``buffer`` (without their terminator) and the incomplete rest."""
    parts = buffer.split(END)
    return [p for p in parts[:-1] if p], parts[-1]


def parse_frame(frame: bytes) -> dict[str, str]:
    """``Key: value`` lines -> dict (a repeated key keeps its last value). Invalid UTF-8 is replaced, not dropped.

    Raises :class:`MalformedFrame` for a line without ``:``.
    """
    message: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            raise MalformedFrame(f"not a 'Key: value' line: {line[:80]!r}")
        message[key] = value[1:] if value.startswith(" ") else value
    return message


def format_frame(message: Mapping[str, str]) -> bytes:
    """A message as wire bytes, terminator included."""
    return "".join(f"{k}: {v}\r\n" for k, v in message.items()).encode("utf-8") + EOL


def read_recording(path: str | Path) -> bytes:
    """The bytes of a recorded session (``.raw`` or ``.raw.gz``)."""
    path = Path(path)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def recorded_frames(path: str | Path) -> Iterator[bytes]:
    """The frames of a recorded session, the banner line skipped."""
    data = read_recording(path)
    if data.startswith(BANNER_PREFIX):
        data = data.split(EOL, 1)[1] if EOL in data else b""
    frames, rest = split_frames(data)
    yield from frames
    if rest.strip():
        yield rest


def recorded_messages(path: str | Path) -> Iterator[dict[str, str]]:
    """The parsed messages of a recorded session (responses and events)."""
    for frame in recorded_frames(path):
        yield parse_frame(frame)
