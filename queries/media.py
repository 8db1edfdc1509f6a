"""Photos and videos of reports, stored as files under MEDIA_DIR (default instance/media) and listed in
the `media` table by their path relative to it. Uploads are checked by their first bytes, not their name."""

from __future__ import annotations

import uuid
from pathlib import Path

from queries.access import WorkflowError
from queries.config import settings

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Magic numbers of the image formats we accept as proof of resolution, and the suffix each file gets.
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"RIFF", ".webp"))
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                 ".mp4": "video/mp4", ".webm": "video/webm"}


def media_dir() -> Path:
    return settings().resolved_media_dir


def image_suffix(data: bytes) -> str:
    """The file suffix for an accepted image, or a WorkflowError that says what is wrong."""
    if not data:
        raise WorkflowError("Tệp ảnh rỗng.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise WorkflowError(f"Ảnh quá lớn: tối đa {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    for signature, suffix in IMAGE_SIGNATURES:
        if data.startswith(signature) and (suffix != ".webp" or data[8:12] == b"WEBP"):
            return suffix
    raise WorkflowError("Chỉ nhận ảnh JPEG, PNG hoặc WebP.")


def save_file(folder: str, stem: str, data: bytes, suffix: str) -> str:
    """Write the bytes under MEDIA_DIR/folder; returns the relative path to store."""
    relative = Path(folder) / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"
    target = media_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return relative.as_posix()


def remove_file(relative: str) -> None:
    (media_dir() / relative).unlink(missing_ok=True)


def resolve_path(relative: str) -> Path | None:
    """The file for a stored relative path, refusing anything that escapes MEDIA_DIR, and any URL (a media
    URL an Open311 client sent names a file elsewhere, never one of ours)."""
    if not relative or "://" in relative or relative.startswith(("/", "\\")) or ".." in Path(relative).parts:
        return None
    root = media_dir().resolve()
    target = (root / relative).resolve()
    if root not in target.parents or not target.is_file():
        return None
    return target
