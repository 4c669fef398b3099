"""Line-oriented input files (JSON Lines, CSV) read as bytes and decoded one line at a time, so a
byte that is not UTF-8 is reported with its line instead of failing somewhere in a buffer."""
from __future__ import annotations


def decode_line(raw: bytes, number: int) -> str:
    """Line `number` (from 1) of a UTF-8 file, a byte-order mark allowed on line 1. Raises
    ValueError naming the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte {e.start + 1})") from None
