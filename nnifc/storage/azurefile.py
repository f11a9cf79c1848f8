"""Azure File share storage: the account key from Key Vault, files through the REST SDK.

The key is read once per process from Key Vault with azure-identity's DefaultAzureCredential
(environment, managed identity, Azure CLI login: what Azure users already have), kept in memory
only, handed to pods through one labelled Secret per experiment, and never put in a message,
a log line or a file. Endpoints default to the public cloud and can be set per config
(`keyVault.endpoint`, `azureStorage.endpoint`) or environment (NNIFC_KEYVAULT_ENDPOINT,
NNIFC_AZURE_FILE_ENDPOINT, each may contain {vault} / {account}) for other clouds and tests.
A Key Vault token goes only to a Key Vault host of a known cloud (or, from the environment
only, to an https URL on this machine) and only when the vault's challenge names the vault.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

if TYPE_CHECKING:
    from azure.storage.fileshare import ShareClient

from nnifc.errors import StorageError
from nnifc.storage.azure_options import AzureOptions, key_vault_url_problem
from nnifc.storage.base import CodeFile, Storage, tree_path

UPLOAD_THREADS = 8
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
REFILLS = 20  # times remove_tree empties a directory that something fills again, then gives up


class AzureFileStorage(Storage[AzureOptions]):
    kind = "azureStorage"
    Options = AzureOptions
    makes_secrets = True
    list_page = 1000  # entries per listing request of remove_tree (the service allows 5000)

    def __init__(self, options: AzureOptions) -> None:
        super().__init__(options)
        vault, share = options.key_vault, options.azure_storage
        self.vault, self.secret_name = vault.vault_name, vault.name
        self.account, self.share_name = share.account_name, share.azure_share
        vault_from_env = os.environ.get("NNIFC_KEYVAULT_ENDPOINT")
        self._vault_env = vault_from_env if not vault.endpoint else None
        vault_url = vault.endpoint or vault_from_env or "https://{vault}.vault.azure.net"
        file_url = (
            share.endpoint
            or os.environ.get("NNIFC_AZURE_FILE_ENDPOINT")
            or "https://{account}.file.core.windows.net"
        )
        # str.replace: a stray brace in a template is no KeyError (config ones are refused)
        self.vault_url = vault_url.replace("{vault}", self.vault)
        self.file_url = file_url.replace("{account}", self.account)
        self._key: str | None = None
        self._share: ShareClient | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        share = self.share
        self._create(f"create the share {self.share_name!r}", share.create_share)
        probe = f"nni/.nnifc-probe-{secrets.token_hex(4)}"
        self.write(probe, b"probe")
        self._call(f"remove {probe}", lambda: share.get_file_client(probe).delete_file())

    def upload(self, files: Sequence[CodeFile], dest: str) -> None:
        directories = {dest} | {f"{dest}/{f.relative}".rsplit("/", 1)[0] for f in files}
        for directory in sorted(directories, key=lambda d: (d.count("/"), d)):
            self._mkdirs(directory)
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            for done in [pool.submit(self._upload_one, f, f"{dest}/{f.relative}") for f in files]:
                done.result()

    def write(self, path: str, data: bytes) -> None:
        self._mkdirs(path.rsplit("/", 1)[0])
        client = self.share.get_file_client(path)
        self._call(f"write {path}", lambda: client.upload_file(data))

    def read(self, path: str, offset: int, size: int) -> bytes:
        client = self.share.get_file_client(path)

        def ranged() -> bytes:
            try:
                return bytes(client.download_file(offset=offset, length=size).readall())
            except ResourceNotFoundError:
                return b""
            except HttpResponseError as e:
                if e.status_code == 416:  # offset at or past the end: nothing new yet
                    return b""
                raise

        result: bytes = self._call(f"read {path}", ranged)
        return result

    def listdir(self, path: str) -> list[str]:
        directory = self.share.get_directory_client(path)

        def names() -> list[str]:
            try:
                return sorted(
                    str(entry["name"]) for entry in directory.list_directories_and_files()
                )
            except ResourceNotFoundError:
                return []

        result: list[str] = self._call(f"list {path}", names)
        return result

    def remove_tree(self, path: str) -> int:
        """Depth first, one listing page at a time, each listing from the directory's start.

        The File service deletes only files and empty directories, so a directory's first page
        is listed, its files deleted (UPLOAD_THREADS at a time) and its subdirectories emptied
        first, and it is listed again until it is empty, never continuing a listing across
        deletions. Links (an SMB client's, an NFS share's) are files to this API: deleting one
        deletes the link. Every request is retried as `_call` retries.
        """
        root = tree_path(path)
        share = self.share
        kind = self._call(f"remove {root}", partial(_kind_of, share, root))
        if kind is None:
            return 0
        if kind != "directory":
            raise StorageError(
                f"cannot remove {root} on the {self._where}: it is a file, not a directory; "
                "nothing was removed"
            )
        removed, refills = 0, 0
        pending: list[tuple[str, int | None]] = [(root, None)]  # with the hash of its last page
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            while pending:
                directory, last = pending[-1]
                page = self._call(
                    f"list {directory}", partial(_first_page, share, directory, self.list_page)
                )
                if page is None:  # gone already (removed by someone else)
                    pending.pop()
                elif not page:
                    if self._call(
                        f"remove {directory}", partial(_delete_directory, share, directory)
                    ):
                        pending.pop()
                        continue
                    refills += 1  # something wrote into it after it was listed empty
                    if refills > REFILLS:
                        raise StorageError(
                            f"cannot remove {directory} on the {self._where}: it keeps getting "
                            "new entries (is a trial still writing to it?)"
                        )
                elif hash(tuple(page)) == last:  # what was removed is listed again
                    raise StorageError(
                        f"cannot remove {page[0][0]} on the {self._where}: it is listed again "
                        "after it was removed (is something writing it?)"
                    )
                else:
                    pending[-1] = (directory, hash(tuple(page)))
                    pending.extend((entry, None) for entry, is_directory in page if is_directory)
                    files = [entry for entry, is_directory in page if not is_directory]
                    for _ in pool.map(self._delete_file, files):
                        removed += 1
        return removed

    def _delete_file(self, path: str) -> None:
        self._call(f"remove {path}", partial(_delete_file, self.share, path))

    def volume(self, name: str, experiment_id: str) -> dict[str, Any]:
        return {
            "name": name,
            "azureFile": {
                "secretName": _secret_name(experiment_id),
                "shareName": self.share_name,
                "readOnly": False,
            },
        }

    def secrets(self, experiment_id: str) -> list[dict[str, Any]]:
        data = {
            "azurestorageaccountname": _b64(self.account),
            "azurestorageaccountkey": _b64(self.key),
        }
        return [{"metadata": {"name": _secret_name(experiment_id)}, "type": "Opaque", "data": data}]

    def close(self) -> None:
        if self._share is not None:
            self._share.close()

    @property
    def key(self) -> str:
        """The storage account key, fetched from Key Vault on first use."""
        with self._lock:
            if self._key is None:
                self._key = self._fetch_key()
            return self._key

    @property
    def share(self) -> ShareClient:
        from azure.storage.fileshare import ExponentialRetry, ShareClient  # heavy: only when used

        if self._share is None:
            retry = ExponentialRetry(
                initial_backoff=1, increment_base=2, retry_total=8, random_jitter_range=1
            )
            credential = {"account_name": self.account, "account_key": self.key}
            self._share = ShareClient(
                self.file_url, self.share_name, credential=credential, retry_policy=retry
            )
        return self._share

    def _fetch_key(self) -> str:
        from azure.identity import DefaultAzureCredential  # heavy: only when used
        from azure.keyvault.secrets import SecretClient

        self._check_vault_url()
        where = f"secret {self.secret_name!r} in Key Vault {self.vault_url}"
        try:
            # the SDK checks that a 401's challenge names this vault's own resource: a token
            # for another (https://management.azure.com, ...) is never asked for nor sent
            with (
                DefaultAzureCredential() as credential,
                SecretClient(self.vault_url, credential, verify_challenge_resource=True) as client,
            ):
                value = client.get_secret(self.secret_name).value
        except ValueError as e:  # the challenge check, or a URL the SDK cannot use
            found = re.search(r"challenge resource '([^']*)'", str(e))
            if found is None:
                raise StorageError(f"cannot read the {where}: {_first_line(e)}") from None
            raise StorageError(
                f"refused the sign-in challenge of Key Vault {self.vault_url}: it asks for a "
                f"token of {found[1]}, not of the vault, so none was sent; check keyVault.endpoint "
                "and NNIFC_KEYVAULT_ENDPOINT"
            ) from None
        except ClientAuthenticationError as e:
            reason = _first_line(e)
            raise StorageError(
                f"cannot sign in to read the {where}: {reason}; run `az login`, or set AZURE_TENANT_ID, "
                "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or use a managed identity"
            ) from None
        except ResourceNotFoundError:
            raise StorageError(
                f"there is no {where}; check keyVault.vaultName and keyVault.name"
            ) from None
        except HttpResponseError as e:
            if e.status_code == 403:
                raise StorageError(
                    f"access to the {where} was denied (403): grant your identity 'get' on secrets"
                ) from None
            raise StorageError(f"cannot read the {where}: {e.status_code} {e.reason}") from None
        except AzureError as e:
            raise StorageError(
                f"cannot reach Key Vault {self.vault_url}: {type(e).__name__}"
            ) from None
        if not value:
            raise StorageError(f"the {where} is empty; it must hold the storage account key")
        return value

    def _check_vault_url(self) -> None:
        """Refuse a vault URL that could hand a token to a host that is no Key Vault.

        keyVault.endpoint was checked when the config was read. NNIFC_KEYVAULT_ENDPOINT is the
        local user's own setting: on this machine (loopback, https: the tests' stand-in) it is
        honoured; any other host must be a Key Vault's, as in the config.
        """
        if self._vault_env is None:
            problem = key_vault_url_problem(self.vault_url)
            name = f"the Key Vault URL {self.vault_url}"
        else:
            problem = key_vault_url_problem(self.vault_url, loopback=True)
            name = f"NNIFC_KEYVAULT_ENDPOINT {self._vault_env}"
        if problem:
            raise StorageError(f"{name} is not used: it {problem}")

    def _upload_one(self, file: CodeFile, path: str) -> None:
        client = self.share.get_file_client(path)

        def send() -> None:
            with file.open() as f:
                client.upload_file(f, length=file.size, max_concurrency=1)

        self._call(f"upload {file.relative}", send)

    def _mkdirs(self, path: str) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            self._create(
                f"create directory {directory}",
                self.share.get_directory_client(directory).create_directory,
            )

    def _create(self, what: str, fn: Any) -> None:
        """Create something that may already exist (which is fine)."""
        with contextlib.suppress(ResourceExistsError):
            self._call(what, fn)

    def _call(self, what: str, fn: Any) -> Any:
        """`fn()`, retried on throttling and dropped connections (the SDK retries 5xx, not 429)."""
        for delay in (*RETRY_DELAYS, None):
            try:
                return fn()
            except ResourceExistsError:
                raise  # the callers that create things decide whether that is fine
            except (ServiceRequestError, ServiceResponseError) as e:
                if delay is None:
                    raise self._error(what, e) from None
                time.sleep(delay)
            except HttpResponseError as e:
                if e.status_code not in (429, 500, 503) or delay is None:
                    raise self._error(what, e) from None
                time.sleep(_retry_after(e) or delay)
            except AzureError as e:
                raise self._error(what, e) from None
        raise AssertionError("unreachable")

    @property
    def _where(self) -> str:
        return f"Azure File share {self.share_name!r} of account {self.account!r}"

    def _error(self, what: str, e: AzureError) -> StorageError:
        where = self._where
        if (
            isinstance(e, ClientAuthenticationError)
            or getattr(e, "error_code", None) == "AuthenticationFailed"
        ):
            return StorageError(
                f"the {where} refused the key from Key Vault secret {self.secret_name!r} (AuthenticationFailed) "
                f"while trying to {what}; update the secret with a current account key"
            )
        if isinstance(e, HttpResponseError):
            code = getattr(e, "error_code", None) or e.reason
            return StorageError(f"cannot {what} on the {where}: {e.status_code} {code}")
        return StorageError(
            f"cannot reach the {where} at {self.file_url} to {what}: {type(e).__name__}"
        )


def _kind_of(share: ShareClient, path: str) -> str | None:
    """Whether `path` is a "directory", a "file" or absent (None), from one or two requests.

    A directory request on a file's path is a 404, so the file is asked about second.
    """
    try:
        share.get_directory_client(path).get_directory_properties()
        return "directory"
    except ResourceNotFoundError:
        pass
    try:
        share.get_file_client(path).get_file_properties()
        return "file"
    except ResourceNotFoundError:
        return None


def _first_page(share: ShareClient, path: str, size: int) -> list[tuple[str, bool]] | None:
    """(path, is a directory) of up to `size` first entries of `path`; None if it is gone."""
    listing = share.get_directory_client(path).list_directories_and_files(results_per_page=size)
    try:
        page = next(listing.by_page(), iter(()))
        return [(f"{path}/{entry['name']}", bool(entry["is_directory"])) for entry in page]
    except ResourceNotFoundError:
        return None


def _delete_file(share: ShareClient, path: str) -> None:
    """Already gone is as good: the retry of a delete whose answer was lost finds nothing."""
    with contextlib.suppress(ResourceNotFoundError):
        share.get_file_client(path).delete_file()


def _delete_directory(share: ShareClient, path: str) -> bool:
    """Delete the emptied directory `path`: False if it was written to since it was listed."""
    try:
        share.get_directory_client(path).delete_directory()
    except ResourceNotFoundError:
        pass
    except HttpResponseError as e:
        if getattr(e, "error_code", None) != "DirectoryNotEmpty":
            raise
        return False
    return True


def _retry_after(e: HttpResponseError) -> float | None:
    headers = getattr(e.response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return min(float(value), 30.0) if value else None
    except ValueError:
        return None


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret_name(experiment_id: str) -> str:
    return f"nnifc-{experiment_id}-azure"
