"""What an appeal's attachment may be (agent accounts 4.2): its size and its type, recognised by the file's
first bytes, never by the name or the header the uploader sends alone."""

from __future__ import annotations

import re

# The evidence agents send: screenshots and photos (PNG, JPEG) and documents (PDF). Magic numbers of each.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}
MAX_ATTACHMENTS_PER_APPEAL = 5
_UNSAFE = re.compile(r"[^\w.\- ]+")


class AttachmentRefused(ValueError):
    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


def sniff(head: bytes) -> str | None:
    """The content type the bytes themselves declare, or None if they are none of the accepted ones."""
    for content_type, magics in SIGNATURES.items():
        if any(head.startswith(m) for m in magics):
            return content_type
    return None


def check_attachment(head: bytes, declared: str | None, size: int, max_bytes: int) -> str:
    """The attachment's content type, or why it is refused: empty, too large, not an accepted type, or a
    declared type the bytes contradict."""
    if size == 0:
        raise AttachmentRefused("the file is empty", "attachment_empty")
    if size > max_bytes:
        raise AttachmentRefused(f"the file has {size} bytes; at most {max_bytes} are accepted", "attachment_too_large")
    found = sniff(head)
    if found is None:
        raise AttachmentRefused(f"accepted types are {', '.join(SIGNATURES)}; the file's content is none of them",
                                "attachment_type")
    base = (declared or "").split(";")[0].strip().lower()
    if base and base not in ("application/octet-stream", found):
        raise AttachmentRefused(f"the file is declared {base} but its content is {found}", "attachment_type_mismatch")
    return found


def display_name(name: str | None) -> str:
    """The uploader's file name, kept for display only (never a path: the stored file is named by its id)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")[:120]
    return cleaned or "attachment"
