"""An NFS file kept open while a task runs, so each look at its output is one READ.

A running trial's output is looked at every few seconds. Opened and closed each time, a look
is a GETATTR, then OPEN, READ and CLOSE when something is new; held open, it is one READ
either way, and nfs-rs's READ on an open file costs what a GETATTR does. The handle belongs to
one connection: after a reconnect (a new generation) the file is opened again, and a handle
the server forgot (its open state lost, a lease expired) is reopened once on the spot.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

import nfs_rs

from nnifc.storage.base import FileReader

T = TypeVar("T")
Run = Callable[[str, str, Callable[[nfs_rs.Client], T]], T]
PIECE = 1 << 16  # per READ: nfs-rs allocates what a read asks for, and outputs grow slowly


class HeldFile(FileReader):
    def __init__(self, path: str, run: Run[bytes], generation: Callable[[], int]) -> None:
        self.path = path
        self._run = run
        self._generation = generation
        self._file: nfs_rs.File | None = None
        self._opened_in = -1  # the connection generation the handle belongs to

    def read(self, offset: int, size: int) -> bytes:
        return self._run("read", self.path, lambda client: self._read(client, offset, size))

    def close(self) -> None:
        if self._file is None:
            return
        if self._opened_in != self._generation():
            self._discard()
            return
        held, self._file = self._file, None

        def close(client: nfs_rs.Client) -> bytes:
            with suppress(nfs_rs.NfsError):  # the server forgets it with the lease anyway
                held.close()
            return b""

        self._run("close", self.path, close)

    def _read(self, client: nfs_rs.Client, offset: int, size: int) -> bytes:
        for fresh in (False, True):
            if fresh or self._file is None or self._opened_in != self._generation():
                self._discard()
                try:
                    self._file = client.open(self.path, "rb")
                except nfs_rs.NfsNotFoundError:  # the task has not started writing
                    return b""
                self._opened_in = self._generation()
            try:
                return self._pieces(self._file, offset, size)
            except (nfs_rs.NfsLostOpenStateError, nfs_rs.NfsStateLostError):
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _discard(self) -> None:
        """Forget a handle without closing it: its connection or its server state is gone."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # nfs-rs warns of unclosed files
            self._file = None

    @staticmethod
    def _pieces(file: nfs_rs.File, offset: int, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            piece = file.read_at(offset + len(data), min(PIECE, size - len(data)))
            data += piece
            if len(piece) < PIECE:
                break
        return bytes(data)
