"""Azure Files REST operations on a real directory tree, ``<root>/<share>/<path>``.

Why: simulated pods write into the same directory through their azureFile volume, and the
launcher reads it back through the REST API; serving straight from disk (no second copy)
means both views always agree. Status codes and error codes follow the File service
reference (ShareNotFound, ParentNotFound, ResourceAlreadyExists, InvalidRange, ...).

A symbolic link a pod made on disk is what the service shows of one (an SMB client's link,
an NFS share's): a file of its own. It is listed and described (HEAD) with its own attributes,
deleting it or creating a file in its place removes the link, and nothing else reaches through
it (404, ParentNotFound below it), so a request never touches what a link points to.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import threading
import time
import uuid
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import sharedkey
from .listing import list_directory, list_shares, props
from .state import Control
from .wire import Reply, Request, storage_error

MAX_CLOCK_SKEW = 15 * 60
AUTH_FAILED = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."


def _not_found() -> Reply:
    return storage_error(404, "ResourceNotFound", "The specified resource does not exist.")


def _parent_not_found() -> Reply:
    return storage_error(404, "ParentNotFound", "The specified parent path does not exist.")


def _is_dir(path: Path) -> bool:
    """A directory of the share itself, not a link to one (the service has no such thing)."""
    return path.is_dir() and not path.is_symlink()


def _invalid_range(size: int) -> Reply:
    reply = storage_error(
        416, "InvalidRange", "The range specified is invalid for the current size of the resource."
    )
    reply.headers["Content-Range"] = f"bytes */{size}"
    return reply


def _parse_range(value: str) -> tuple[int, int | None] | None:
    unit, _, spec = value.partition("=")
    start, _, end = spec.partition("-")
    if unit.strip() != "bytes" or not start.strip().isdigit():
        return None
    if end.strip() and not end.strip().isdigit():
        return None
    return int(start), int(end) if end.strip() else None


class FileService:
    """One storage account's File service; ``handle`` gets the path below the account."""

    def __init__(self, root: Path, account: str, control: Control) -> None:
        self.root = root
        self.account = account
        self.control = control
        self.lock = threading.RLock()

    # -- authentication -------------------------------------------------------------------

    def authenticate(self, req: Request) -> Reply | None:
        auth = req.header("Authorization")
        if not auth:
            return storage_error(
                401, "NoAuthenticationInformation", "Server failed to authenticate the request."
            )
        date = req.header("x-ms-date") or req.header("Date")
        try:
            skew = abs(time.time() - parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            skew = float("inf")
        if skew > MAX_CLOCK_SKEW:
            return storage_error(
                403, "AuthenticationFailed", AUTH_FAILED, "Request date is invalid."
            )
        text = sharedkey.string_to_sign(
            req.method, req.headers, req.raw_path, req.query, self.account
        )
        if not sharedkey.verify(auth, self.account, self.control.account_key, text):
            detail = (
                "The MAC signature found in the HTTP request is not the same as any computed "
                f"signature. Server used following string to sign: '{text}'."
            )
            return storage_error(403, "AuthenticationFailed", AUTH_FAILED, detail)
        return None

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, req: Request, below_account: str) -> Reply:
        denied = self.authenticate(req)
        if denied is not None:
            return denied
        fault = self.control.file_fault()
        if fault is not None:
            status, retry_after = fault
            if status == 500:
                return storage_error(
                    500,
                    "InternalError",
                    "The server encountered an internal error. Please retry the request.",
                )
            reply = storage_error(
                status,
                "ServerBusy",
                "The server is currently unable to receive requests. Please retry your request.",
            )
            reply.headers["Retry-After"] = str(retry_after)
            return reply
        parts = [unquote(p) for p in below_account.split("/") if p]
        names = [n for p in parts for n in p.split("/") if n]
        if any(n in (".", "..") or "\\" in n or "\x00" in n for n in names):
            return storage_error(
                400,
                "InvalidResourceName",
                "The specifed resource name contains invalid characters.",
            )
        params = req.params()
        with self.lock:
            reply = self._route(req, names, params)
        reply.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        reply.headers["x-ms-version"] = req.header("x-ms-version", "2026-10-06")
        return reply

    def _route(self, req: Request, names: list[str], params: dict[str, str]) -> Reply:
        restype, comp, m = params.get("restype", ""), params.get("comp", ""), req.method
        if not names:
            if m == "GET" and comp == "list":
                return list_shares(self.root, self._endpoint(req), params)
            return storage_error(
                400, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb."
            )
        share = self.root / names[0]
        if restype == "share" and len(names) == 1:
            return self._share(req, names[0], share, comp)
        if not share.is_dir():
            return storage_error(404, "ShareNotFound", "The specified share does not exist.")
        path = share.joinpath(*names[1:])
        if any(share.joinpath(*names[1:end]).is_symlink() for end in range(2, len(names))):
            return _parent_not_found()  # a link is a file: nothing is below it
        if restype == "directory":
            return self._directory(req, path, comp, params, share, names)
        if len(names) == 1:
            return storage_error(
                400,
                "InvalidUri",
                "The requested URI does not represent any resource on the server.",
            )
        return self._file(req, path, comp, share)

    def _endpoint(self, req: Request) -> str:
        if req.host.split(":")[0].endswith(".file.core.windows.net"):
            return f"{req.scheme}://{req.host}/"
        return f"{req.scheme}://{req.host}/{self.account}/"

    # -- shares ---------------------------------------------------------------------------

    def _share(self, req: Request, name: str, share: Path, comp: str) -> Reply:
        if req.method == "PUT" and not comp:
            if not self.control.share_creatable:
                return storage_error(
                    403,
                    "AuthorizationPermissionMismatch",
                    "This request is not authorized to perform this operation using this permission.",
                )
            if share.is_dir():
                return storage_error(
                    409, "ShareAlreadyExists", "The specified share already exists."
                )
            share.mkdir(parents=True)
            return Reply(201, headers=props(share))
        if not share.is_dir():
            return storage_error(404, "ShareNotFound", "The specified share does not exist.")
        if req.method in ("GET", "HEAD") and not comp:
            return Reply(200, headers={**props(share), "x-ms-share-quota": "5120"})
        if req.method == "DELETE" and not comp:
            shutil.rmtree(share)
            return Reply(202)
        return storage_error(400, "UnsupportedQueryParameter", f"comp={comp} is not modelled.")

    # -- directories ----------------------------------------------------------------------

    def _directory(
        self,
        req: Request,
        path: Path,
        comp: str,
        params: dict[str, str],
        share: Path,
        names: list[str],
    ) -> Reply:
        m = req.method
        if m == "PUT" and not comp:
            if os.path.lexists(path):
                code = "ResourceAlreadyExists" if _is_dir(path) else "ResourceTypeMismatch"
                return storage_error(409, code, "The specified resource already exists.")
            if not path.parent.is_dir():
                return _parent_not_found()
            path.mkdir()
            return Reply(201, headers=props(path))
        if not _is_dir(path):
            return _parent_not_found() if not path.parent.is_dir() else _not_found()
        if m in ("GET", "HEAD") and not comp:
            return Reply(200, headers=props(path))
        if m == "GET" and comp == "list":
            return list_directory(path, self._endpoint(req), params, names)
        if m == "DELETE" and not comp:
            if path == share:
                return storage_error(400, "InvalidUri", "The root directory cannot be deleted.")
            if any(path.iterdir()):
                return storage_error(
                    409, "DirectoryNotEmpty", "The specified directory is not empty."
                )
            path.rmdir()
            return Reply(202)
        return storage_error(400, "UnsupportedQueryParameter", f"comp={comp} is not modelled.")

    def _file(self, req: Request, path: Path, comp: str, share: Path) -> Reply:
        m = req.method
        if m == "PUT" and comp == "rename":
            return self._rename(req, path, share)
        if _is_dir(path):
            if m == "PUT" and not comp:
                return storage_error(
                    409,
                    "ResourceTypeMismatch",
                    "The specified resource type does not match the type of the resource.",
                )
            return _not_found()
        if not path.parent.is_dir():
            return _parent_not_found()
        if path.is_symlink():
            if m == "DELETE" and not comp:
                path.unlink()  # the link itself, never what it points to
                return Reply(202)
            if m not in ("HEAD", "PUT") or comp:
                return _not_found()  # nothing is read or written through a link
        if m == "PUT" and not comp:
            size = req.header("x-ms-content-length")
            if req.header("x-ms-type").lower() != "file" or not size.isdigit():
                return storage_error(
                    400,
                    "MissingRequiredHeader",
                    "x-ms-type: file and x-ms-content-length are required.",
                )
            if path.is_symlink():
                path.unlink()  # a new file takes the link's place
            with open(path, "wb") as f:
                f.truncate(int(size))
            return Reply(201, headers=props(path))
        if not path.is_file() and not path.is_symlink():
            return _not_found()
        if m == "PUT" and comp == "range":
            return self._put_range(req, path)
        if m == "PUT" and comp == "properties":
            size = req.header("x-ms-content-length")
            if size.isdigit():
                os.truncate(path, int(size))
            return Reply(200, headers=props(path))
        if m == "PUT" and comp == "metadata":
            return Reply(200, headers=props(path))
        if m == "HEAD" and not comp:
            headers = {**props(path), "Content-Length": str(path.lstat().st_size)}
            return Reply(
                200,
                headers={
                    **headers,
                    "x-ms-type": "File",
                    "Content-Type": "application/octet-stream",
                },
            )
        if m == "GET" and not comp:
            return self._get(req, path)
        if m == "DELETE" and not comp:
            path.unlink()
            return Reply(202)
        return storage_error(400, "UnsupportedQueryParameter", f"comp={comp} is not modelled.")

    def _put_range(self, req: Request, path: Path) -> Reply:
        parsed = _parse_range(req.header("x-ms-range") or req.header("Range"))
        size = path.stat().st_size
        if parsed is None or parsed[1] is None or parsed[1] < parsed[0]:
            return storage_error(
                400, "InvalidHeaderValue", "The value for x-ms-range is not valid."
            )
        start, end = parsed[0], parsed[1]
        if end >= size:
            return _invalid_range(size)
        write = req.header("x-ms-write").lower()
        extra: dict[str, str] = {}
        if write == "update":
            if len(req.body) != end - start + 1:
                return storage_error(
                    400, "InvalidHeaderValue", "The body length does not match x-ms-range."
                )
            md5 = base64.b64encode(hashlib.md5(req.body).digest()).decode()
            sent = req.header("Content-MD5")
            if sent and sent != md5:
                return storage_error(
                    400,
                    "Md5Mismatch",
                    "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
                )
            data = req.body
            extra["Content-MD5"] = md5
        elif write == "clear":
            data = bytes(end - start + 1)
        else:
            return storage_error(400, "InvalidHeaderValue", "x-ms-write must be update or clear.")
        with open(path, "r+b") as f:
            f.seek(start)
            f.write(data)
        self.control.count(uploaded=len(req.body))
        return Reply(201, headers={**props(path), **extra})

    def _get(self, req: Request, path: Path) -> Reply:
        size = path.stat().st_size
        headers = {
            **props(path),
            "x-ms-type": "File",
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        spec = req.header("x-ms-range") or req.header("Range")
        if not spec:
            data = path.read_bytes()
            self.control.count(downloaded=len(data))
            return Reply(200, data, headers)
        parsed = _parse_range(spec)
        if parsed is None:
            return storage_error(
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format.",
            )
        start, end = parsed
        if start >= size:
            return _invalid_range(size)
        last = size - 1 if end is None else min(end, size - 1)
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(last - start + 1)
        headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
        if req.header("x-ms-range-get-content-md5").lower() == "true":
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        self.control.count(downloaded=len(data))
        return Reply(206, data, headers)

    def _rename(self, req: Request, path: Path, share: Path) -> Reply:
        source_url = req.header("x-ms-file-rename-source")
        source_path = unquote(urlsplit(source_url).path if "://" in source_url else source_url)
        names = [n for n in source_path.split("/") if n]
        if (
            names
            and names[0] == self.account
            and not req.host.split(":")[0].endswith(".file.core.windows.net")
        ):
            names = names[1:]
        if names and names[0] == share.name:
            names = names[1:]
        source = share.joinpath(*names)
        if not names or not source.exists():
            return _not_found()
        if not path.parent.is_dir():
            return _parent_not_found()
        if path.exists() and req.header("x-ms-file-rename-replace-if-exists").lower() != "true":
            return storage_error(
                409, "ResourceAlreadyExists", "The specified resource already exists."
            )
        source.replace(path)
        return Reply(200, headers=props(path))
