"""SQLite connections whose errors from a damaged file name the file.

sqlite3 raises a bare DatabaseError ("file is not a database", "database disk image is
malformed") from whichever statement first reads the damage, often long after opening. Every
statement and fetch here turns it into a StoreError naming the experiment and its file, so any
command on a damaged experiment says so in one line, and the listing can skip it. Its
subclasses (locked, constraint, ...) pass unchanged: the store handles those itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from nnifc.errors import StoreError


def unreadable(path: Path, error: BaseException) -> StoreError:
    return StoreError(f"experiment {path.parent.name}: its database {path} is unreadable: {error}")


class Named:
    """Inside it, a damaged file's DatabaseError becomes a StoreError naming the file."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is sqlite3.DatabaseError and error is not None:  # exactly: not a subclass
            raise unreadable(self.path, error) from None


class NamedCursor(sqlite3.Cursor):
    @property
    def _named(self) -> Named:
        connection = self.connection
        assert isinstance(connection, NamedConnection)
        return connection.named

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        with self._named:
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        with self._named:
            super().executemany(sql, seq_of_parameters)
        return self

    def executescript(self, sql_script: str, /) -> Self:
        with self._named:
            super().executescript(sql_script)
        return self

    def fetchone(self) -> Any:
        with self._named:
            row = super().fetchone()
        return row

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        with self._named:
            rows = super().fetchmany(size)
        return rows

    def fetchall(self) -> list[Any]:
        with self._named:
            rows = super().fetchall()
        return rows

    def __next__(self) -> Any:
        with self._named:
            row = super().__next__()
        return row


class NamedConnection(sqlite3.Connection):
    """Give `factory=NamedConnection` to sqlite3.connect; its cursors are NamedCursors."""

    def __init__(self, database: str | Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.named = Named(Path(database))

    def cursor(self, factory: Any = NamedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> NamedCursor:
        cursor: NamedCursor = self.cursor()
        return cursor.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> NamedCursor:
        cursor: NamedCursor = self.cursor()
        return cursor.executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> NamedCursor:
        cursor: NamedCursor = self.cursor()
        return cursor.executescript(sql_script)
