"""`view` and `report`: the experiments in a browser, served live or written to one HTML file."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from nnifc import experiments
from nnifc.cli.console import say, warn
from nnifc.errors import NnifcError

LOOPBACK = "127.0.0.1"


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.argument("exp_id", required=False)
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free one).")  # fmt: skip
@click.option("--host", default=LOOPBACK, show_default=True,
              help="Address to listen on; anything but loopback lets others see the view.")  # fmt: skip
def view(exp_id: str | None, port: int, host: str) -> None:
    """Serve a web view of the experiments (live while they run) until Ctrl-C.

    \b
    Example:
        nnifc view
        nnifc view 3kq9x0ab --port 8090
    """
    from nnifc.web import app

    page = f"#/e/{experiments.resolve(exp_id)}" if exp_id else ""
    if not loopback(host):
        warn(
            f"the view listens on {host}: anyone who can reach it sees every experiment, its"
            " parameters and trial logs; it has no authentication"
        )
    try:
        sock = app.bind(host, port)
    except OSError as e:
        raise NnifcError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    say(f"nnifc view: http://{shown_host}:{bound_port}/{page}  (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        app.serve(sock)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


@click.command()
@click.argument("exp_id")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="The HTML file to write (default: nnifc-EXP.html).")  # fmt: skip
def report(exp_id: str, output: Path | None) -> None:
    """Write one self-contained HTML file with an experiment's plots and trials table.

    \b
    Example:
        nnifc report 3kq9x0ab -o report.html
    """
    from nnifc.web.report import write_report

    exp_id = experiments.resolve(exp_id)
    path = output or Path(f"nnifc-{exp_id}.html")
    if not path.resolve().parent.is_dir():
        raise NnifcError(f"cannot write {path}: its folder does not exist")
    try:
        size = write_report(exp_id, path)
    except OSError as e:
        raise NnifcError(f"cannot write {path}: {e.strerror or e}") from None
    say(f"wrote {path} ({size / 1e6:.1f} MB): open it in any browser, no network needed")
