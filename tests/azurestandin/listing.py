"""Listing shares and directories: the EnumerationResults XML the SDK's pagers parse.

Why: the launcher lists trial output directories to collect results; entries come straight
from ``os.scandir`` so files a pod just wrote are listed at once. ``marker`` is the name to
resume from, as opaque to the client as the real service's marker.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .wire import Reply, http_date


def props(path: Path) -> dict[str, str]:
    st = path.lstat()  # a link's own
    return {
        "ETag": f'"0x{st.st_mtime_ns:X}"',
        "Last-Modified": http_date(st.st_mtime),
        "x-ms-file-id": str(st.st_ino),
        "x-ms-file-attributes": "Directory" if stat.S_ISDIR(st.st_mode) else "Archive",
    }


def list_shares(root: Path, endpoint: str, params: dict[str, str]) -> Reply:
    prefix = params.get("prefix", "")
    rows = []
    for share in sorted(p for p in root.iterdir() if p.is_dir()):
        if share.name.startswith(prefix):
            info = props(share)
            rows.append(
                f"<Share><Name>{escape(share.name)}</Name><Properties>"
                f"<Last-Modified>{info['Last-Modified']}</Last-Modified>"
                f"<Etag>{escape(info['ETag'])}</Etag><Quota>5120</Quota></Properties></Share>"
            )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
        f"ServiceEndpoint={quoteattr(endpoint)}><Shares>{''.join(rows)}</Shares>"
        "<NextMarker /></EnumerationResults>"
    )
    return Reply(200, xml.encode(), {"Content-Type": "application/xml"})


def list_directory(path: Path, endpoint: str, params: dict[str, str], names: list[str]) -> Reply:
    prefix, marker = params.get("prefix", ""), params.get("marker", "")
    limit = int(params.get("maxresults") or 5000)
    entries = sorted(
        (e for e in os.scandir(path) if e.name.startswith(prefix) and e.name >= marker),
        key=lambda e: e.name,
    )
    rows = []
    for entry in entries[:limit]:
        st = entry.stat(follow_symlinks=False)  # a link is listed as the file it is
        name = f"<FileId>{st.st_ino}</FileId><Name>{escape(entry.name)}</Name>"
        if entry.is_dir(follow_symlinks=False):
            rows.append(f"<Directory>{name}<Properties /></Directory>")
        else:
            rows.append(
                f"<File>{name}<Properties><Content-Length>{st.st_size}</Content-Length>"
                "</Properties></File>"
            )
    next_marker = escape(entries[limit].name) if len(entries) > limit else ""
    head = "".join(
        f"<{tag}>{escape(params[key])}</{tag}>"
        for key, tag in (
            ("marker", "Marker"),
            ("prefix", "Prefix"),
            ("maxresults", "MaxResults"),
        )
        if key in params
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
        f"ServiceEndpoint={quoteattr(endpoint)} ShareName={quoteattr(names[0])} "
        f"DirectoryPath={quoteattr('/'.join(names[1:]))}>{head}"
        f"<DirectoryId>{path.stat().st_ino}</DirectoryId><Entries>{''.join(rows)}</Entries>"
        f"<NextMarker>{next_marker}</NextMarker></EnumerationResults>"
    )
    return Reply(200, xml.encode(), {"Content-Type": "application/xml"})


# -- files ----------------------------------------------------------------------------
