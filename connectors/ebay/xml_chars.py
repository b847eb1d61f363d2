"""Characters XML 1.0 forbids, replaced with U+FFFD before a Trading API answer is parsed.

eBay passes buyer-entered text through as typed, and has been seen to send a raw control
character (U+0001, say) or a reference to one (`&#x1;`) in a name or an address line. XML 1.0
allows neither, so the parser refuses the whole document, and with it every order of the page;
the next pull asks for the same page and fails the same way, so the account stops syncing.

We replace each such character (raw or referenced) with U+FFFD, the Unicode replacement
character, rather than quarantining the order that holds it: in buyer-entered text a control
character carries no meaning, the order stays complete and is forwarded, and a reader of the
forwarded order sees where something was replaced. Where it lands in a field that must match a
format (a timestamp, an amount), that order fails validation and is quarantined as any
malformed order is. Nothing else changes: the DTD check and defusedxml still see the document.

Only UTF-8 (and ASCII) bodies are touched, which is what eBay sends: in UTF-8 no byte below
0x20 occurs inside a multi-byte character, so a byte-level replacement cannot split one. A
UTF-16 or UTF-32 body is left as it is (its NUL bytes are part of its characters). A reference
inside a CDATA section is plain text to the parser and would be rewritten too, harmlessly
(`&#x1;` -> `&#xFFFD;` as text); eBay does not use CDATA in GetOrders answers.
"""

from __future__ import annotations

import re

__all__ = ["REPLACEMENT", "replace_illegal_characters"]

REPLACEMENT = "\ufffd"

# XML 1.0 section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
# [#x10000-#x10FFFF]. Raw in UTF-8: the C0 controls but TAB, LF and CR, and U+FFFE / U+FFFF.
# (A raw surrogate is not valid UTF-8 at all: that stays a broken body.)
_ILLEGAL_RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_CHARACTER_REFERENCE = re.compile(rb"&#(?:x([0-9A-Fa-f]{1,16})|([0-9]{1,20}));")
_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_UTF8_BOM = b"\xef\xbb\xbf"


def is_xml_char(code_point: int) -> bool:
    return (
        code_point in (0x9, 0xA, 0xD)
        or 0x20 <= code_point <= 0xD7FF
        or 0xE000 <= code_point <= 0xFFFD
        or 0x10000 <= code_point <= 0x10FFFF
    )


def replace_illegal_characters(body: bytes) -> tuple[bytes, int]:
    """(`body` with each character XML 1.0 forbids replaced by U+FFFD, how many were replaced).

    A body that is not UTF-8 is returned unchanged.
    """
    if not _is_utf8(body):
        return body, 0
    replacement = REPLACEMENT.encode()
    body, raw = _ILLEGAL_RAW.subn(replacement, body)
    referenced = 0

    def reference(match: re.Match[bytes]) -> bytes:
        nonlocal referenced
        hex_digits, decimal_digits = match.groups()
        code_point = int(hex_digits, 16) if hex_digits else int(decimal_digits)
        if is_xml_char(code_point):
            return match.group(0)
        referenced += 1
        return b"&#xFFFD;"

    body = _CHARACTER_REFERENCE.sub(reference, body)
    return body, raw + referenced


def _is_utf8(body: bytes) -> bool:
    head = body.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    if head[:1] != b"<" or head[1:2] == b"\x00":  # UTF-16/32 (BOM or not), or not XML
        return False
    declared = _ENCODING.match(head)
    return declared is None or declared.group(1).lower() in _UTF8_NAMES
