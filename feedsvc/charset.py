"""Decode a fetched body: charset from HTTP, then the document's own declaration, then detection.

Browsers read ``iso-8859-1`` and ``us-ascii`` as windows-1252, and so do we: old
news pages declare latin-1 and use curly quotes from the 0x80-0x9f range.

Declarations are often wrong. One that cannot decode the body is skipped; and a
body that is valid UTF-8 with multi-byte sequences is read as UTF-8 whatever
single-byte charset it claims (legacy text is practically never valid UTF-8 by
accident, while UTF-8 pages served as "iso-8859-1" are common).
"""

from __future__ import annotations

import codecs
import re
import unicodedata


_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
_WIDE = ("utf-16", "utf-32")  # codecs where valid UTF-8 bytes prove nothing
# WHATWG "binary data bytes": control characters that never occur in text.
_BINARY_BYTES = frozenset(range(0x00, 0x09)) | {0x0B} | frozenset(range(0x0E, 0x1B)) | frozenset(range(0x1C, 0x20))
_SNIFF_BYTES = 1024
_WINDOWS_ALIASES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "cp819", "iso-ir-100"}


def normalise(name: str | None) -> str | None:
    """A Python codec name for a declared charset, or None when unknown."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    if label in _WINDOWS_ALIASES:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def declared_in_document(body: bytes) -> str | None:
    """The charset a page declares in its XML declaration or <meta> (first 4 KB)."""
    head = body[:4096]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return normalise(match.group(1).decode("ascii", "replace")) if match else None


def looks_binary(body: bytes) -> bool:
    """True for data that is not text at all (an image or archive served as text/html).

    The WHATWG sniffing rule: text has no NUL and (almost) no other C0 control bytes
    in its first 1024 bytes; a UTF-16 body (with its BOM) is text.
    """
    head = body[:_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)):
        return False
    if b"\x00" in head:
        return True
    return sum(1 for byte in head if byte in _BINARY_BYTES) > 8


def decode(body: bytes, http_charset: str | None) -> tuple[str, str]:
    """Return (text, codec used). Never raises: undecodable bytes become U+FFFD."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8):].decode("utf-8", "replace"), "utf-8"
    as_utf8 = _strict_utf8(body)
    for candidate in (normalise(http_charset), declared_in_document(body)):
        if not candidate:
            continue
        if as_utf8 is not None and candidate != "utf-8" and not candidate.startswith(_WIDE) and not as_utf8.isascii():
            return as_utf8, "utf-8"  # declared a legacy charset, but the bytes are UTF-8
        try:
            return body.decode(candidate), candidate
        except UnicodeDecodeError:
            continue  # a wrong declaration: fall through to the next source
    if as_utf8 is not None:
        return as_utf8, "utf-8"
    # Imported here: a page that declares no charset is rare, and charset-normalizer loads every
    # codec of the standard library while it guesses (the daemon decodes in its CPU workers).
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536]).best()
    guess = normalise(best.encoding) if best is not None else None
    # Detectors hesitate between the Latin single-byte codecs (cp1252, cp1250, cp852...)
    # on short Western text; on the web the answer is windows-1252, as in browsers.
    # Trust the detector only when its reading is in another script.
    if guess and not _reads_as_latin(body.decode(guess, "replace")):
        return body.decode(guess, "replace"), guess
    return body.decode("cp1252", "replace"), "cp1252"


def _strict_utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _reads_as_latin(text: str) -> bool:
    letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
    if not letters:
        return True
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin * 2 >= len(letters)
