"""Illustrative photos for the demo province: one generated picture per field (a sky, ground in the field's
colour and a marker), so the report page shows a working gallery without shipping anyone's real photo.
Their captions say they are illustrations."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from sqlalchemy import select

from queries import media
from queries.db import Database, get_db
from queries.schema import categories

WIDTH, HEIGHT = 480, 320
CAPTION = "Ảnh minh họa (dữ liệu demo)"


def _png(pixels: np.ndarray) -> bytes:
    """An RGB array (height, width, 3) of uint8 as PNG bytes."""
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def picture(color: str) -> bytes:
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    sky = np.stack([170 + 60 * (y / HEIGHT), 200 + 40 * (y / HEIGHT), np.full(y.shape, 235.0)], axis=-1)
    ground = rgb * (0.75 + 0.25 * (x / WIDTH))[..., None]
    image = np.where((y > HEIGHT * 0.55)[..., None], ground, sky)
    marker = (x - WIDTH * 0.5) ** 2 + (y - HEIGHT * 0.45) ** 2 < (HEIGHT * 0.12) ** 2
    image[marker] = [198, 40, 40]
    return _png(np.clip(image, 0, 255).astype(np.uint8))


def ensure_pictures(db: Database | None = None) -> dict[int, str]:
    """Write the pictures under MEDIA_DIR/demo if missing; {category_id: relative path}."""
    paths = {}
    for row in get_db(db).read_rows(select(categories.c.id, categories.c.code, categories.c.color)):
        relative = f"demo/{row['code'].lower()}.png"
        target = media.media_dir() / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(picture(row["color"] if len(row["color"] or "") == 7 else "#7f7f7f"))
        paths[row["id"]] = relative
    return paths


def media_rows(rows: list[dict], has_photo: np.ndarray, paths: dict[int, str]) -> list[dict]:
    """Media rows for the demo reports that came with a photo."""
    return [{"report_id": row["id"], "kind": "photo", "path": paths[row["category_id"]], "caption": CAPTION,
             "role": "citizen", "created_at": row["created_at"]}
            for row, photo in zip(rows, has_photo, strict=True) if photo and row["category_id"] in paths]

