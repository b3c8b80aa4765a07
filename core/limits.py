"""How much input one request may carry (docs/architecture.md "Bad input"): body sizes per kind of route and
the nesting depth of JSON. Past a limit the answer is a 413 or a 400 with the usual error body, before the
input is parsed whole — never a 500, a RecursionError or a process swollen by one request."""

from __future__ import annotations

import re
from datetime import datetime

JSON_BODY_MAX = 1024 * 1024  # any JSON request: the largest real one (a calendar year, an ops note) is a few KiB
BATCH_BODY_MAX = 8 * 1024 * 1024  # a carrier batch: 50,000 lines of ~150 bytes
UPLOAD_BODY_MAX = 16 * 1024 * 1024  # a scanned document (10 MiB) or an appeal attachment, with multipart overhead
CODEC_BODY_MAX = 8 * 1024 * 1024  # the Web UI's payloads to decode or encode
MAX_JSON_DEPTH = 32  # no message of the project nests deeper than 4; json and pydantic recurse per level

FIRST_YEAR, LAST_YEAR = 1900, 2100  # of any moment received: past them a shift to UTC or Asia/Shanghai overflows


def sane_year(at: datetime) -> datetime:
    """A pydantic after-validator for every moment received."""
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise ValueError(f"year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return at


_STRUCTURE = re.compile(r'\\.|"|[\[\]{}]', re.DOTALL)


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`, found by a scan of its brackets (strings
    skipped) that stops at the first level too deep, so it costs no recursion and no parse."""
    depth, in_string = 0, False
    for m in _STRUCTURE.finditer(text):
        token = m.group()
        if token[0] == "\\":
            continue
        if token == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
