"""What every response carries to keep browsers from misusing it, and the instance folder's file modes.

- Content-Security-Policy: scripts only from this server and Dash's own inline scripts (by hash), no
  plugins, no framing except the wall where WALL_FRAME_ANCESTORS allows it, forms and fetches to this server
  only. Styles allow inline: Plotly and Leaflet set them at run time.
- X-Frame-Options for older browsers, Referrer-Policy, X-Content-Type-Options.
- Cache-Control: no-store on everything but static files and media: pages, callbacks and the API carry
  what one person may see.
- The instance folder (SQLite file and its WAL, media, reject files, the secret key, the analytics copy) is
  readable by the service's user only: the process creates files with umask 077 and tightens what exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, request

from queries.config import Settings, settings

CACHEABLE_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon", "/media/")
WALL_PATH = "/wall"


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    # {s}: the tile server's subdomains (a, b, c…), which a CSP source names with a wildcard.
    parts = urlsplit(url.replace("{s}", "*").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(script_hashes: list[str], frame_ancestors: list[str]) -> str:
    tiles = _origin(settings().tile_url)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *([tiles] if tiles else [])],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": frame_ancestors or ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def init_headers(server: Flask) -> None:
    @server.after_request
    def _security_headers(response):
        # Asked anew each time (a few short hashes): Dash learns its inline scripts as pages register and set
        # up, and a list taken once, by a worker's first request, missed the clientside callbacks of the rest.
        hashes = server.dash_app.csp_hashes()
        wall_framed = request.path == WALL_PATH and settings().wall_frame_ancestors
        response.headers["Content-Security-Policy"] = content_security_policy(
            hashes, settings().wall_frame_ancestors if wall_framed else [])
        if not wall_framed:  # X-Frame-Options cannot name origins; where the wall may be framed, CSP says where
            response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not request.path.startswith(CACHEABLE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        elif request.path.startswith("/assets/") and "m" in request.args and response.status_code == 200:
            # Dash names an asset with its modification time (?m=…): a changed file gets a new address, so the
            # browser may keep this one instead of asking again on every page.
            response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


def _tighten(path: Path) -> None:
    """Directories 0700 and files 0600 under `path`, owned by this process's user; others left as they are."""
    if not path.exists():
        return
    for root, dirs, files in os.walk(path):
        for name, mode in ((root, 0o700), *((os.path.join(root, f), 0o600) for f in files)):
            try:
                info = os.lstat(name)
                if not stat.S_ISLNK(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) \
                        & 0o077:
                    os.chmod(name, stat.S_IMODE(info.st_mode) & mode)
            except FileNotFoundError:
                continue
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


def private_files(cfg: Settings) -> None:
    """New files private to the service's user, and the instance, media and analytics folders made so."""
    os.umask(0o077)
    for folder in (cfg.instance_dir, cfg.resolved_media_dir, cfg.resolved_analytics_dir):
        folder.mkdir(parents=True, exist_ok=True)
        _tighten(folder)
