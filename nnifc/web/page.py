"""The one HTML page both the server and the report use: scripts and styles linked, or inlined.

Served, it links /static/...; in a report everything is inside the file (plotly.js from the
installed `plotly` package, our scripts and styles from `static/`, the data as JSON in a script
element browsers do not run). Either way a Content-Security-Policy lets only our own scripts
run, so markup that slipped into a page could still run nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from typing import Any

SCRIPTS = ("common.js", "table.js", "charts.js", "pages.js", "main.js")
STYLE = "style.css"


def _plotly_dir() -> Path:  # found, not imported: plotly's Python side is not needed
    spec = find_spec("plotly")
    assert spec is not None and spec.submodule_search_locations, "the plotly package is missing"
    return Path(next(iter(spec.submodule_search_locations)))


PLOTLY_JS = _plotly_dir() / "package_data" / "plotly.min.js"
# plotly's WebGL plots (scattergl, parcoords) compile shaders with Function(): 'unsafe-eval'
SERVED_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'"
)


def static_text(name: str) -> str:
    return (files("nnifc.web") / "static" / name).read_text(encoding="utf-8")


def plotly_js() -> str:
    return PLOTLY_JS.read_text(encoding="utf-8")


def served() -> str:
    scripts = [f'<script src="static/{name}"></script>' for name in SCRIPTS]  # plotly: on demand
    return _html(
        head=f'<link rel="stylesheet" href="static/{STYLE}">',
        body="\n".join(scripts),
        policy=SERVED_POLICY,
    )


def embedded(data: dict[str, Any]) -> str:
    """The self-contained report: `data` is what the server's API would answer, by path."""
    sources = [plotly_js(), *(static_text(name) for name in SCRIPTS)]
    hashes = " ".join(f"'sha256-{_digest(s)}'" for s in sources)
    policy = (
        f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline';"
        " img-src data:; object-src 'none'; base-uri 'none'"
    )
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("<", "\\u003c")  # no `</script>` or `<!--` inside the element
    body = [f'<script type="application/json" id="nnifc-data">{payload}</script>']
    body += [f"<script>{_in_script(s)}</script>" for s in sources]
    return _html(head=f"<style>{static_text(STYLE)}</style>", body="\n".join(body), policy=policy)


def _digest(source: str) -> str:
    return base64.b64encode(hashlib.sha256(_in_script(source).encode()).digest()).decode()


def _in_script(text: str) -> str:
    """JavaScript that cannot end its <script> element early: `</script` is written `<\\/script`,
    the same in a string or a comment (plotly.js has it only in strings; ours nowhere)."""
    return re.sub(r"(?i)</(script)", r"<\\/\1", text)


def _html(*, head: str, body: str, policy: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>nnifc view</title>
{head}
</head>
<body>
<header id="top"><a href="#/" class="brand">nnifc</a><span id="crumbs"></span><span id="live"></span></header>
<main id="main"></main>
{body}
</body>
</html>
"""
