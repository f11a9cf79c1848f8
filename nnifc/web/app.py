"""The web server: starlette routes over read-only snapshots, served by uvicorn.

starlette and uvicorn are small, typed and widely used; the server has no state but the open
readers. Endpoints are plain functions (starlette runs them on its thread pool), each answering
JSON. A failure is a JSON `{"error": ...}` the page shows, never a traceback on the terminal.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from nnifc.errors import ExperimentNotFound, NnifcError, StoreError
from nnifc.store import experiment_ids
from nnifc.web import charts, documents, importance, page
from nnifc.web.logs import LogReaders
from nnifc.web.reader import Readers, Snapshot

Handler = Callable[[Request], Any]
_JSON = msgspec.json.Encoder()


def _respond(document: Any, status: int = 200) -> Response:
    return Response(
        _JSON.encode(document),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _json(handler: Handler) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            return _respond(handler(request))
        except ExperimentNotFound as e:
            return _respond({"error": str(e)}, 404)
        except (NnifcError, OSError) as e:
            return _respond({"error": str(e)}, 500)
        except Exception as e:  # a bug: the page says so, the server goes on
            return _respond({"error": f"unexpected error: {type(e).__name__}: {e}"}, 500)

    return endpoint


class View:
    """What the routes share: a reader per experiment and the platforms reading logs."""

    def __init__(self) -> None:
        self.readers = Readers()
        self.logs = LogReaders()

    def close(self) -> None:
        self.readers.close()
        self.logs.close()

    def snapshot(self, request: Request) -> Snapshot:
        exp_id = request.path_params["exp"]
        if exp_id not in experiment_ids():
            raise ExperimentNotFound(f"no experiment {exp_id!r}")
        return self.readers.get(exp_id).snapshot()

    def experiments(self, request: Request) -> Any:
        listed, unreadable = [], []
        for exp_id in experiment_ids():
            try:
                listed.append(documents.experiment_summary(self.readers.get(exp_id).snapshot()))
            except (StoreError, ExperimentNotFound) as e:
                unreadable.append({"id": exp_id, "error": str(e)})
        return {"experiments": listed, "unreadable": unreadable}

    def version(self, request: Request) -> Any:
        self.snapshot(request)  # the experiment exists and is readable
        return {"version": self.readers.get(request.path_params["exp"]).version()}

    def overview(self, request: Request) -> Any:
        return documents.overview(self.snapshot(request))

    def trials(self, request: Request) -> Any:
        snapshot = self.snapshot(request)  # the largest document: made once per change
        key = f"trials:{snapshot.version}"
        if key not in snapshot.cache:
            snapshot.cache[key] = msgspec.Raw(_JSON.encode(documents.trials_table(snapshot)))
        return snapshot.cache[key]

    def curves(self, request: Request) -> Any:
        top = _int(request.query_params.get("top"), charts.CURVES_DEFAULT)
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        return charts.curves(self.snapshot(request), top, ids)

    def history(self, request: Request) -> Any:
        return charts.history(self.snapshot(request))

    def parallel(self, request: Request) -> Any:
        return charts.parallel(self.snapshot(request))

    def durations(self, request: Request) -> Any:
        return charts.durations(self.snapshot(request))

    def importance(self, request: Request) -> Any:
        return importance.importance(self.snapshot(request))

    def trial(self, request: Request) -> Any:
        return documents.trial_detail(self.snapshot(request), request.path_params["trial"])

    def log(self, request: Request) -> Any:
        snapshot = self.snapshot(request)
        trial = snapshot.trial(request.path_params["trial"])
        raw = request.query_params.get("from")
        offsets = None if raw is None else msgspec.json.decode(raw, type=dict[str, int])
        document = self.logs.read(snapshot.row, trial.id, offsets)
        document["finished"] = trial.status.final
        return document


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def build() -> Starlette:
    view = View()
    static = {name: name for name in (*page.SCRIPTS, page.STYLE)}

    def index(request: Request) -> Response:
        return HTMLResponse(page.served(), headers={"Content-Security-Policy": page.SERVED_POLICY})

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(page.PLOTLY_JS, media_type="text/javascript")
        if name not in static:
            return Response("not found", status_code=404)
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(page.static_text(name), media_type=kind)

    api = "/api/e/{exp}"
    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/experiments", _json(view.experiments)),
        Route(f"{api}/version", _json(view.version)),
        Route(f"{api}/overview", _json(view.overview)),
        Route(f"{api}/trials", _json(view.trials)),
        Route(f"{api}/curves", _json(view.curves)),
        Route(f"{api}/history", _json(view.history)),
        Route(f"{api}/parallel", _json(view.parallel)),
        Route(f"{api}/durations", _json(view.durations)),
        Route(f"{api}/importance", _json(view.importance)),
        Route(api + "/t/{trial}", _json(view.trial)),
        Route(api + "/t/{trial}/log", _json(view.log)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            view.close()

    return Starlette(routes=routes, lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: any free one), bound before the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def serve(sock: socket.socket) -> None:
    """Serve until Ctrl-C (or SIGTERM)."""
    config = uvicorn.Config(build(), log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
