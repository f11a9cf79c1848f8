"""The Azure stand-in, checked with the real SDKs only (azure-identity, keyvault, file-share).

Why: the launcher's Azure tests are only as good as the stand-in; these pin down that real
clients authenticate, retry and read/write through it exactly as they would against Azure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.fileshare import LinearRetry, ShareClient, ShareServiceClient

if TYPE_CHECKING:
    from tests.azurestandin import AzureStandin

pytest_plugins = ["tests.azurestandin.fixture"]

MIB = 1024 * 1024


def code(exc: BaseException) -> object:
    """The storage SDK adds ``error_code`` to the exceptions it raises."""
    return getattr(exc, "error_code", None)


FAST_RETRY = LinearRetry(backoff=0, random_jitter_range=0, retry_total=3)


@pytest.fixture
def sdk_env(azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch) -> AzureStandin:
    for key, value in azure_standin.env().items():
        monkeypatch.setenv(key, value)
    return azure_standin


@pytest.fixture
def service(azure_standin: AzureStandin) -> Iterator[ShareServiceClient]:
    with ShareServiceClient(
        azure_standin.file_endpoint, credential=azure_standin.credential, retry_policy=FAST_RETRY
    ) as client:
        yield client


@pytest.fixture
def share(service: ShareServiceClient) -> ShareClient:
    client = service.get_share_client("nni")
    client.create_share()
    return client


# -- Entra ID and Key Vault ---------------------------------------------------------------


def test_default_credential_gets_token(sdk_env: AzureStandin) -> None:
    with DefaultAzureCredential() as credential:
        token = credential.get_token("https://vault.azure.net/.default")
    assert token.token and token.expires_on > time.time() + 3000
    paths = [r.path for r in sdk_env.requests("aad")]
    assert paths[-2:] == [
        f"/{sdk_env.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{sdk_env.tenant_id}/oauth2/v2.0/token",
    ]
    assert paths[0] == "/common/discovery/instance"  # MSAL asks about a non-Microsoft host


def test_secret_client_reads_secret_with_challenge(sdk_env: AzureStandin) -> None:
    first = sdk_env.set_secret("storage-key", "old")
    sdk_env.set_secret("storage-key", "new")
    with DefaultAzureCredential() as cred, SecretClient(sdk_env.vault_url, cred) as client:
        assert client.get_secret("storage-key").value == "new"
        assert client.get_secret("storage-key", first).value == "old"
        with pytest.raises(ResourceNotFoundError, match="SecretNotFound"):
            client.get_secret("nope")
    vault = sdk_env.requests("vault")
    assert [r.status for r in vault] == [401, 200, 200, 404]
    assert "Authorization" not in vault[0].headers
    assert vault[1].headers["Authorization"] == "Bearer"  # the scheme is kept, never the value


def test_public_host_names_through_the_proxy(
    azure_standin: AzureStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in azure_standin.env(public_hosts=True).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    url = azure_standin.public_vault_url("myvault")
    with DefaultAzureCredential() as cred, SecretClient(url, cred) as client:
        secret = client.get_secret("storage-key").value
    assert secret is not None and secret == azure_standin.account_key
    credential = {"account_name": azure_standin.account_name, "account_key": secret}
    with ShareServiceClient(azure_standin.public_file_endpoint(), credential) as svc:
        svc.create_share("public")
        svc.get_share_client("public").get_file_client("f.txt").upload_file(b"via proxy")
    assert (azure_standin.share_dir("public") / "f.txt").read_bytes() == b"via proxy"
    hosts = {r.host for r in azure_standin.requests() if r.service != "proxy"}
    assert hosts == {
        "login.microsoftonline.com",
        "myvault.vault.azure.net",
        f"{azure_standin.account_name}.file.core.windows.net",
    }


def test_wrong_client_secret_is_rejected(azure_standin: AzureStandin) -> None:
    with (
        ClientSecretCredential(
            azure_standin.tenant_id,
            azure_standin.client_id,
            "wrong",
            authority=azure_standin.authority_host,
            disable_instance_discovery=True,
            connection_verify=str(azure_standin.ca_cert),
        ) as credential,
        pytest.raises(ClientAuthenticationError, match="AADSTS7000215"),
    ):
        credential.get_token("https://vault.azure.net/.default")
    assert [r.status for r in azure_standin.requests("aad")] == [200, 401]


def test_deny_switch_gives_403(sdk_env: AzureStandin) -> None:
    sdk_env.set_secret("storage-key", "k")
    sdk_env.deny_vault = True
    with (
        DefaultAzureCredential() as cred,
        SecretClient(sdk_env.vault_url, cred) as client,
        pytest.raises(HttpResponseError) as info,
    ):
        client.get_secret("storage-key")
    assert info.value.status_code == 403
    assert info.value.error is not None and info.value.error.code == "Forbidden"


class ForeignToken:
    """A credential whose tokens the stand-in never issued."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-issued-here", int(time.time()) + 3600)


def test_token_not_issued_by_standin_gets_401(azure_standin: AzureStandin) -> None:
    azure_standin.set_secret("storage-key", "k")
    with (
        SecretClient(
            azure_standin.vault_url, ForeignToken(), connection_verify=str(azure_standin.ca_cert)
        ) as client,
        pytest.raises(ClientAuthenticationError),
    ):
        client.get_secret("storage-key")
    assert azure_standin.requests("vault")[-1].status == 401


# -- Azure Files ----------------------------------------------------------------------------


def test_share_lifecycle_errors(service: ShareServiceClient, azure_standin: AzureStandin) -> None:
    share = service.get_share_client("nni")
    with pytest.raises(ResourceNotFoundError) as missing:
        share.get_share_properties()
    assert code(missing.value) == "ShareNotFound"
    share.create_share()
    assert azure_standin.share_dir("nni").is_dir()
    with pytest.raises(ResourceExistsError) as exists:
        share.create_share()
    assert code(exists.value) == "ShareAlreadyExists"
    assert share.get_share_properties().name == "nni"
    assert [s.name for s in service.list_shares()] == ["nni"]
    azure_standin.share_creatable = False
    with pytest.raises(HttpResponseError) as denied:
        service.create_share("other")
    assert denied.value.status_code == 403
    assert code(denied.value) == "AuthorizationPermissionMismatch"


@pytest.mark.parametrize("size", [0, 1, 4 * MIB, 4 * MIB + 1, 9 * MIB + 7])
def test_upload_download_sizes(share: ShareClient, azure_standin: AzureStandin, size: int) -> None:
    data = os.urandom(size)
    share.get_directory_client("exp").create_directory()
    file = share.get_file_client("exp/blob.bin")
    file.upload_file(data)
    assert (azure_standin.share_dir("nni") / "exp" / "blob.bin").read_bytes() == data
    assert file.download_file().readall() == data
    assert file.get_file_properties().size == size
    ranges = [
        r.headers["x-ms-range"] for r in azure_standin.requests("files") if r.query == "comp=range"
    ]
    assert len(ranges) == -(-size // (4 * MIB))
    assert azure_standin.bytes_uploaded == size
    if size > 10:
        assert file.download_file(offset=3, length=7).readall() == data[3:10]
        tail = file.download_file(offset=size - 2, length=100).readall()
        assert tail == data[-2:]


def test_range_past_the_end_is_416(share: ShareClient) -> None:
    file = share.get_file_client("small.txt")
    file.upload_file(b"0123456789")
    with pytest.raises(HttpResponseError) as info:
        file.download_file(offset=50, length=5).readall()
    assert info.value.status_code == 416
    assert code(info.value) == "InvalidRange"
    with pytest.raises(HttpResponseError) as write:
        file.upload_range(b"xyz", offset=9, length=3)
    assert code(write.value) == "InvalidRange"


def test_directories_listing_delete_rename(share: ShareClient, azure_standin: AzureStandin) -> None:
    root = share.get_directory_client("exp1")
    root.create_directory()
    with pytest.raises(ResourceExistsError) as exists:
        root.create_directory()
    assert code(exists.value) == "ResourceAlreadyExists"
    with pytest.raises(ResourceNotFoundError) as orphan:
        share.get_directory_client("nope/child").create_directory()
    assert code(orphan.value) == "ParentNotFound"
    share.get_directory_client("exp1/code").create_directory()
    root.get_file_client("a.txt").upload_file(b"aaa")
    entries = {e["name"]: e["is_directory"] for e in root.list_directories_and_files()}
    assert entries == {"a.txt": False, "code": True}
    assert [e["name"] for e in root.list_directories_and_files(name_starts_with="co")] == ["code"]
    assert [e["name"] for e in root.list_directories_and_files(results_per_page=1)] == [
        "a.txt",
        "code",
    ]
    moved = root.get_file_client("a.txt").rename_file("exp1/code/b.txt")
    assert moved.download_file().readall() == b"aaa"
    with pytest.raises(HttpResponseError) as not_empty:
        share.get_directory_client("exp1/code").delete_directory()
    assert code(not_empty.value) == "DirectoryNotEmpty"
    moved.delete_file()
    with pytest.raises(ResourceNotFoundError):
        moved.get_file_properties()
    share.get_directory_client("exp1/code").delete_directory()
    root.delete_directory()
    assert list(azure_standin.share_dir("nni").iterdir()) == []


def test_connection_string_client(azure_standin: AzureStandin) -> None:
    with ShareClient.from_connection_string(azure_standin.connection_string(), "cs") as share:
        share.create_share()
        share.get_file_client("x").upload_file(b"x")
    with ShareClient.from_connection_string(
        azure_standin.connection_string(https=True),
        "cs",
        connection_verify=str(azure_standin.ca_cert),
    ) as share:
        assert share.get_file_client("x").download_file().readall() == b"x"


def test_wrong_key_and_rotation_get_403(share: ShareClient, azure_standin: AzureStandin) -> None:
    wrong = {"account_name": azure_standin.account_name, "account_key": "d3Jvbmc="}
    with (
        ShareServiceClient(azure_standin.file_endpoint, credential=wrong) as bad,
        pytest.raises(ClientAuthenticationError) as info,
    ):
        bad.get_share_client("nni").get_share_properties()
    assert code(info.value) == "AuthenticationFailed"
    old = azure_standin.account_key
    new = azure_standin.rotate_account_key()
    assert new != old
    with pytest.raises(ClientAuthenticationError):
        share.get_share_properties()
    fresh = {"account_name": azure_standin.account_name, "account_key": new}
    with ShareClient(azure_standin.file_endpoint, "nni", credential=fresh) as client:
        assert client.get_share_properties().name == "nni"


class TamperingTransport(RequestsTransport):  # type: ignore[misc]
    """Changes a signed header in flight, as a man in the middle would."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        if request.headers.get("x-ms-content-length"):
            request.headers["x-ms-content-length"] = "999"
        return super().send(request, **kwargs)


def test_tampered_request_gets_403(share: ShareClient, azure_standin: AzureStandin) -> None:
    with (
        ShareClient(
            azure_standin.file_endpoint,
            "nni",
            credential=azure_standin.credential,
            transport=TamperingTransport(),
        ) as client,
        pytest.raises(ClientAuthenticationError, match="authenticate"),
    ):
        client.get_file_client("f").create_file(5)
    assert not (azure_standin.share_dir("nni") / "f").exists()


def test_throttling_503_is_retried(share: ShareClient, azure_standin: AzureStandin) -> None:
    azure_standin.throttle_next(2)
    share.get_file_client("t.txt").upload_file(b"throttled")
    logged = [r for r in azure_standin.requests("files") if r.path.endswith("/t.txt")]
    assert [r.status for r in logged] == [503, 503, 201, 201]
    assert logged[0].error_code == "ServerBusy"


def test_throttling_429_is_not_retried_by_storage_sdk(
    share: ShareClient, azure_standin: AzureStandin
) -> None:
    azure_standin.throttle_next(1, status=429)
    with pytest.raises(HttpResponseError) as info:
        share.get_file_client("t.txt").upload_file(b"throttled")
    assert info.value.status_code == 429
    assert azure_standin.requests("files")[-1].status == 429


def test_error_rate_exhausts_retries(share: ShareClient, azure_standin: AzureStandin) -> None:
    azure_standin.error_rate = 1.0
    with pytest.raises(HttpResponseError) as info:
        share.get_share_properties()
    assert info.value.status_code == 500
    assert len(azure_standin.requests("files")) == 1 + 1 + 3


def test_disk_and_rest_are_one_view(share: ShareClient, azure_standin: AzureStandin) -> None:
    disk = azure_standin.share_dir("nni")
    (disk / "pod" / "output").mkdir(parents=True)
    (disk / "pod" / "output" / "metrics").write_bytes(b"from the pod\n")
    file = share.get_file_client("pod/output/metrics")
    assert file.download_file().readall() == b"from the pod\n"
    with open(disk / "pod" / "output" / "metrics", "ab") as f:
        f.write(b"more\n")
    assert file.download_file(offset=13).readall() == b"more\n"
    names = [e["name"] for e in share.get_directory_client("pod").list_directories_and_files()]
    assert names == ["output"]
    share.get_file_client("pod/parameter.cfg").upload_file(b'{"p": 1}')
    assert json.loads((disk / "pod" / "parameter.cfg").read_text()) == {"p": 1}


def test_links_made_on_disk_are_files_that_lead_nowhere(
    share: ShareClient, azure_standin: AzureStandin, tmp_path: Path
) -> None:
    """As the service shows a pod's link: a file. remove_tree's tests rely on nothing more."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"keep me")
    disk = azure_standin.share_dir("nni")
    (disk / "pod").mkdir()
    (disk / "pod" / "to-dir").symlink_to(outside)
    (disk / "pod" / "dangling").symlink_to("nothing")
    pod = share.get_directory_client("pod")
    entries = {e["name"]: e["is_directory"] for e in pod.list_directories_and_files()}
    assert entries == {"to-dir": False, "dangling": False}
    assert share.get_file_client("pod/to-dir").get_file_properties().size == len(str(outside))
    through = share.get_directory_client("pod/to-dir")
    for attempt in (
        lambda: list(through.list_directories_and_files()),
        through.delete_directory,
        share.get_file_client("pod/to-dir").download_file,
        share.get_file_client("pod/to-dir/secret").download_file,
        share.get_file_client("pod/to-dir/secret").delete_file,
    ):
        with pytest.raises(ResourceNotFoundError):
            attempt()
    share.get_file_client("pod/to-dir").delete_file()
    share.get_file_client("pod/dangling").upload_file(b"a file now")
    assert sorted(os.listdir(disk / "pod")) == ["dangling"]
    assert (disk / "pod" / "dangling").read_bytes() == b"a file now"
    assert not (disk / "pod" / "dangling").is_symlink()
    assert (outside / "secret").read_bytes() == b"keep me"


CHILD = """
import os
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.fileshare import ShareClient
with DefaultAzureCredential() as cred, SecretClient(os.environ["VAULT"], cred) as kv:
    key = kv.get_secret("storage-key").value
creds = {"account_name": os.environ["ACCOUNT"], "account_key": key}
with ShareClient(os.environ["FILES"], "nni", credential=creds) as share:
    print(share.get_file_client("hello.txt").download_file().readall().decode())
"""


@pytest.mark.parametrize("public_hosts", [False, True])
def test_child_process_needs_only_env(
    share: ShareClient, azure_standin: AzureStandin, tmp_path: Path, public_hosts: bool
) -> None:
    azure_standin.set_secret("storage-key", azure_standin.account_key)
    (azure_standin.share_dir("nni") / "hello.txt").write_text("hello child")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(azure_standin.env(public_hosts=public_hosts))
    env["VAULT"] = (
        azure_standin.public_vault_url("nni-vault") if public_hosts else azure_standin.vault_url
    )
    env["FILES"] = (
        azure_standin.public_file_endpoint() if public_hosts else azure_standin.file_endpoint
    )
    env["ACCOUNT"] = azure_standin.account_name
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello child"
