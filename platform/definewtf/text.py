"""Text normalisation shared by storage and lookups."""

from __future__ import annotations

import re
import unicodedata

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def fold(value: str) -> str:
    """The case-insensitive key of a string, identical on every engine.

    NFC, then Unicode case folding (so `Straße` and `STRASSE` meet), then NFC again because
    folding may leave decomposed sequences. Stored in `*_ci` columns; every comparison of a
    case-insensitive attribute folds its operand the same way.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


def is_dns_label(value: str) -> bool:
    """RFC 1123 label: 1-63 of a-z 0-9 and '-', not starting or ending with '-'."""
    return bool(_DNS_LABEL.fullmatch(value))


def is_storable(value: str) -> bool:
    """Whether both engines can store and compare the string: no NUL (PostgreSQL's text and
    jsonb refuse U+0000) and no lone surrogate (`"\\ud800"` is valid JSON but no UTF-8, so
    no driver can send it). Input that fails this is refused, never passed to the database."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
