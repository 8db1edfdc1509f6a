"""Wall-screen tokens from the command line: `flask --app app display-token create|list|revoke`."""

from __future__ import annotations

import click
from flask import Flask

from dashboard.formatting import fmt_local_datetime
from queries import display_tokens
from queries.config import settings


def screen_url(token: str) -> str:
    """The address a screen opens; PUBLIC_URL names the server as the screens reach it."""
    return f"{settings().base_url}/wall?token={token}"


def register_cli(server: Flask) -> None:
    @server.cli.group("display-token")
    def group():
        """Tokens for wall screens (read-only, leader scope, no personal data)."""

    @group.command("create")
    @click.argument("name")
    @click.option("--rotate", "rotate_seconds", type=int, default=display_tokens.DEFAULT_ROTATE_SECONDS,
                  show_default=True, help="Seconds per panel.")
    @click.option("--refresh", "refresh_seconds", type=int, default=display_tokens.DEFAULT_REFRESH_SECONDS,
                  show_default=True, help="Seconds between data refreshes.")
    @click.option("--panels", default=",".join(display_tokens.PANELS), show_default=True,
                  help="Panels in order, comma-separated.")
    def create(name, rotate_seconds, refresh_seconds, panels):
        """Create a token for screen NAME and print the screen's URL (shown once)."""
        try:
            screen, token = display_tokens.create_token(name, "cli", {
                "rotate_seconds": rotate_seconds, "refresh_seconds": refresh_seconds, "panels": panels.split(",")})
        except display_tokens.DisplayTokenError as err:
            raise click.ClickException(str(err)) from None
        s = screen.settings
        click.echo(f"Màn hình '{screen.name}': xoay {s.rotate_seconds} giây, làm mới {s.refresh_seconds} giây, "
                   f"các trang {', '.join(s.panels)}")
        click.echo(screen_url(token))

    @group.command("list")
    def list_command():
        """List the screens, their state and when each was last seen."""
        screens = display_tokens.list_screens()
        if not screens:
            click.echo("Chưa có màn hình nào.")
        for s in screens:
            state = "đã thu hồi " + fmt_local_datetime(s.revoked_at) if s.revoked_at else "đang dùng"
            seen = fmt_local_datetime(s.last_seen_at) or "chưa kết nối"
            click.echo(f"{s.name:<30} {s.token_prefix}…  {state:<28} lần cuối: {seen}")

    def change(action, name: str, done: str) -> None:
        try:
            action(name)
        except display_tokens.DisplayTokenError as err:
            raise click.ClickException(str(err)) from None
        click.echo(done.format(name=name))

    @group.command("delete")
    @click.argument("name")
    def delete(name):
        """Delete screen NAME and its token for good (revoke keeps it listed)."""
        change(display_tokens.delete, name, "Đã xoá màn hình '{name}' và mã của nó.")

    @group.command("revoke")
    @click.argument("name")
    def revoke(name):
        """Revoke screen NAME: it shows the 'revoked' page within one refresh."""
        change(display_tokens.revoke, name, "Đã thu hồi màn hình '{name}'.")
