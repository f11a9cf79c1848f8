"""The ``azure_standin`` pytest fixture and the handle it yields.

Why: one object gives a test everything it needs to point real Azure SDKs (in-process or in a
child process) at the stand-in: endpoints, credentials, the CA bundle, the on-disk share
directories, fault switches and the request log.

Usage::

    from tests.azurestandin.fixture import azure_standin  # noqa: F401  (makes it a fixture)

    def test_x(azure_standin: AzureStandin) -> None:
        azure_standin.set_secret("storage-key", azure_standin.account_key)
        subprocess.run([...], env={**os.environ, **azure_standin.env()})
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .certs import make_certificates
from .files import FileService
from .identity import PUBLIC_AUTHORITY, Identity
from .server import StandinServer, serve, tls_context
from .state import Control, LoggedRequest


class AzureStandin:
    """A running stand-in. Switches are plain attributes/methods, safe from any thread."""

    def __init__(self, workdir: Path, account_name: str = "nnistandin") -> None:
        self.workdir = workdir
        self.root = workdir / "shares"
        self.root.mkdir(parents=True, exist_ok=True)
        self.account_name = account_name
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.control = Control()
        self._initial_key = self.control.account_key
        self.ca_cert, cert, key = make_certificates(workdir)
        self.ca_bundle = workdir / "ca-bundle.pem"
        system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
        extra = system.read_bytes() if system.is_file() else b""
        self.ca_bundle.write_bytes(self.ca_cert.read_bytes() + b"\n" + extra)
        self.files = FileService(self.root, account_name, self.control)
        self.identity = Identity(self.control, self.tenant_id, self.client_id, self.client_secret)
        tls = tls_context(cert, key)
        self._http = StandinServer(self.files, self.identity, self.control, tls, secure=False)
        self._https = StandinServer(self.files, self.identity, self.control, tls, secure=True)
        self.http_port, self.https_port = self._http.port, self._https.port
        self.authority_host = f"https://127.0.0.1:{self.https_port}"
        self.identity.authority_host = self.authority_host
        self.vault_url = f"https://127.0.0.1:{self.https_port}"
        self.file_endpoint = f"http://127.0.0.1:{self.http_port}/{account_name}"
        self.file_endpoint_https = f"https://127.0.0.1:{self.https_port}/{account_name}"
        self.proxy_url = f"http://127.0.0.1:{self.http_port}"
        self._threads = [serve(self._http), serve(self._https)]

    # -- endpoints and credentials --------------------------------------------------------

    @property
    def account_key(self) -> str:
        return self.control.account_key

    @property
    def credential(self) -> dict[str, str]:
        return {"account_name": self.account_name, "account_key": self.account_key}

    def connection_string(self, https: bool = False) -> str:
        endpoint = self.file_endpoint_https if https else self.file_endpoint
        return (
            f"DefaultEndpointsProtocol={'https' if https else 'http'};"
            f"AccountName={self.account_name};AccountKey={self.account_key};"
            f"FileEndpoint={endpoint};"
        )

    @staticmethod
    def public_vault_url(vault_name: str) -> str:
        """The production URL; reachable through ``proxy_url`` (see ``env(public_hosts=True)``)."""
        return f"https://{vault_name}.vault.azure.net"

    def public_file_endpoint(self) -> str:
        return f"https://{self.account_name}.file.core.windows.net"

    def env(self, public_hosts: bool = False) -> dict[str, str]:
        """Environment for a child process using DefaultAzureCredential and the SDKs.

        Direct mode: AZURE_AUTHORITY_HOST points at the stand-in; the proxy variables are still
        needed because MSAL asks login.microsoftonline.com about a non-Microsoft authority
        (instance discovery). Public-hosts mode: the production host names are answered by the
        stand-in through HTTPS_PROXY, so nothing Azure-specific has to be overridden.
        """
        env = {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
            "SSL_CERT_FILE": str(self.ca_bundle),
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        if not public_hosts:
            env["AZURE_AUTHORITY_HOST"] = self.authority_host
        return env

    # -- storage, secrets, switches, observations -----------------------------------------

    def share_dir(self, share: str) -> Path:
        """The directory that *is* the share: what a pod's azureFile volume maps to."""
        return self.root / share

    def set_secret(self, name: str, value: str) -> str:
        """Add a new version of a Key Vault secret (any vault name); returns the version."""
        return self.identity.set_secret(name, value)

    def hostile_challenge(self, resource: str = "https://management.azure.com") -> None:
        """Key Vault's 401 names ``resource`` (and the public authority), as a vault
        impostor fishing for a token of another service would; ``reset`` ends it."""
        self.identity.challenge_resource = resource
        self.identity.challenge_authority = f"https://{PUBLIC_AUTHORITY}"

    def issued_tokens(self) -> list[str]:
        """The resource of every token issued so far (the tokens themselves are not shown)."""
        return [token.resource for token in self.identity.issued()]

    def throttle_next(self, n: int, status: int = 503, retry_after: int = 1) -> None:
        self.control.throttle_next(n, status, retry_after)

    def rotate_account_key(self) -> str:
        return self.control.rotate_account_key()

    @property
    def error_rate(self) -> float:
        return self.control.error_rate

    @error_rate.setter
    def error_rate(self, value: float) -> None:
        self.control.error_rate = value

    @property
    def deny_vault(self) -> bool:
        return self.control.deny_vault

    @deny_vault.setter
    def deny_vault(self, value: bool) -> None:
        self.control.deny_vault = value

    @property
    def share_creatable(self) -> bool:
        return self.control.share_creatable

    @share_creatable.setter
    def share_creatable(self, value: bool) -> None:
        self.control.share_creatable = value

    @property
    def bytes_uploaded(self) -> int:
        return self.control.bytes_uploaded

    @property
    def bytes_downloaded(self) -> int:
        return self.control.bytes_downloaded

    def requests(self, service: str | None = None) -> list[LoggedRequest]:
        """Logged requests, oldest first; service is "files", "vault", "aad" or "proxy"."""
        return self.control.requests(service)

    def reset(self) -> None:
        """Back to a fresh state: no shares, secrets, tokens, faults or log; the first key."""
        self.control.reset()
        self.control.account_key = self._initial_key
        self.identity.clear()
        self.identity.challenge_resource = None
        self.identity.challenge_authority = None
        shutil.rmtree(self.root)
        self.root.mkdir()

    def stop(self) -> None:
        for server in (self._http, self._https):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def start_standin(workdir: Path | None = None) -> AzureStandin:
    return AzureStandin(workdir or Path(tempfile.mkdtemp(prefix="azurestandin-")))


@pytest.fixture
def azure_standin(tmp_path: Path) -> Iterator[AzureStandin]:
    standin = start_standin(tmp_path / "azurestandin")
    try:
        yield standin
    finally:
        standin.stop()
