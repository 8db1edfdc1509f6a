"""Report photos and videos, served from MEDIA_DIR to those who may see the report."""

from __future__ import annotations

from flask import Blueprint, abort, send_file

from dashboard.auth import current_viewer
from queries import cases, media
from queries.access import WorkflowError

bp = Blueprint("files", __name__)


@bp.get("/media/<int:media_id>")
def media_file(media_id: int):
    try:
        relative = cases.media_path(current_viewer(), media_id)
    except WorkflowError:
        abort(403)
    path = media.resolve_path(relative) if relative else None
    if path is None:  # unknown, out of scope, or the file is missing: all look the same
        abort(404)
    response = send_file(path, mimetype=media.CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                         max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
