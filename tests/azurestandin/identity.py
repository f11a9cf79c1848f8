"""Microsoft Entra ID (token issuing, as MSAL needs it) and Key Vault secrets.

Why: the launcher reads the storage key from Key Vault with DefaultAzureCredential, so tests
need the whole chain: OpenID discovery and client-credentials tokens for MSAL, then the Key
Vault 401 bearer challenge, token check and secret lookup, with Azure's error bodies.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .state import Control
from .wire import Reply, Request, json_reply

PUBLIC_AUTHORITY = "login.microsoftonline.com"
TOKEN_LIFETIME = 3599


@dataclass(frozen=True)
class Token:
    client_id: str
    tenant_id: str
    resource: str  # the scope without "/.default"
    expires: float


@dataclass(frozen=True)
class SecretVersion:
    version: str
    value: str
    created: int


def _aad_error(status: int, error: str, code: int, text: str) -> Reply:
    payload = {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {uuid.uuid4()} Correlation ID: "
        f"{uuid.uuid4()} Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return json_reply(status, payload, error)


def _vault_error(status: int, code: str, message: str, **headers: str) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}}, code, **headers)


class Identity:
    """One tenant with one confidential client, and one vault served for any vault name."""

    def __init__(
        self, control: Control, tenant_id: str, client_id: str, client_secret: str
    ) -> None:
        self.control = control
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.challenge_resource: str | None = None  # None: derived from the vault host
        self.challenge_authority: str | None = None  # None: the one the vault host belongs to
        self.authority_host = f"https://{PUBLIC_AUTHORITY}"  # the fixture sets the direct one
        self._tokens: dict[str, Token] = {}
        self._secrets: dict[str, list[SecretVersion]] = {}
        self._lock = threading.Lock()

    # -- Entra ID -------------------------------------------------------------------------

    def handle_aad(self, req: Request) -> Reply:
        base = f"https://{req.host}"
        parts = [unquote(p) for p in req.raw_path.split("/") if p]
        if parts[:3] == ["common", "discovery", "instance"]:
            return self._instance_discovery(req)
        if not parts:
            return _aad_error(404, "invalid_request", 90002, "No tenant in the request path.")
        tenant, rest = parts[0], parts[1:]
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if req.method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
            root = f"{base}/{tenant}"
            return json_reply(
                200,
                {
                    "token_endpoint": f"{root}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                    "issuer": f"{root}/v2.0",
                    "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                        "client_secret_basic",
                    ],
                    "response_types_supported": ["code", "id_token", "code id_token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "tenant_region_scope": None,
                },
            )
        if req.method == "POST" and rest == ["oauth2", "v2.0", "token"]:
            return self._token(req, tenant)
        return _aad_error(404, "invalid_request", 900561, "The endpoint is not modelled.")

    def _instance_discovery(self, req: Request) -> Reply:
        """MSAL asks this of login.microsoftonline.com for any authority it does not know.

        Real Entra ID answers ``invalid_instance`` for a host it does not know; the stand-in
        also vouches for its own authority (127.0.0.1 / localhost, which MSAL sends without
        the port) and points MSAL at ``authority_host``, so that AZURE_AUTHORITY_HOST works.
        """
        endpoint = urlsplit(dict(parse_qsl(req.query)).get("authorization_endpoint", ""))
        tenant = ([p for p in endpoint.path.split("/") if p] or ["common"])[0]
        host = endpoint.hostname or ""
        if host == PUBLIC_AUTHORITY:
            base = f"https://{PUBLIC_AUTHORITY}"
        elif host in ("127.0.0.1", "localhost"):
            base = self.authority_host
        else:
            return _aad_error(400, "invalid_instance", 50049, "Unknown or invalid instance.")
        return json_reply(
            200,
            {
                "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": urlsplit(base).netloc,
                        "preferred_cache": urlsplit(base).netloc,
                        "aliases": [urlsplit(base).netloc],
                    }
                ],
            },
        )

    def _token(self, req: Request, tenant: str) -> Reply:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400, "unsupported_grant_type", 70003, "Only client_credentials is modelled."
            )
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
            )
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            )
        scopes = form.get("scope", "").split()
        resources = [s.removesuffix("/.default") for s in scopes if s.endswith("/.default")]
        if len(resources) != 1:
            return _aad_error(
                400, "invalid_scope", 1002012, "The provided value for scope is not valid."
            )
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = Token(
                self.client_id, tenant, resources[0], time.time() + TOKEN_LIFETIME
            )
        return json_reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": access_token,
            },
        )

    def issued(self) -> list[Token]:
        with self._lock:
            return list(self._tokens.values())

    # -- Key Vault ------------------------------------------------------------------------

    def set_secret(self, name: str, value: str) -> str:
        version = uuid.uuid4().hex
        with self._lock:
            self._secrets.setdefault(name, []).append(
                SecretVersion(version, value, int(time.time()))
            )
        return version

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._tokens.clear()

    def resource_for(self, host: str) -> str:
        """What the challenge names: Azure's is the vault host minus its first label
        (https://vault.azure.net, https://vault.azure.cn, ...; 0.0.1:<port> for 127.0.0.1)."""
        if self.challenge_resource is not None:
            return self.challenge_resource
        return "https://" + (host.split(".", 1)[1] if "." in host else host)

    def handle_vault(self, req: Request, authority: str) -> Reply:
        resource = self.resource_for(req.host)
        authority = self.challenge_authority or authority
        challenge = f'Bearer authorization="{authority}/{self.tenant_id}", resource="{resource}"'
        auth = req.header("Authorization")
        if not auth.startswith("Bearer "):
            return _vault_error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                **{"WWW-Authenticate": challenge},
            )
        with self._lock:
            token = self._tokens.get(auth.removeprefix("Bearer ").strip())
        if token is None or token.expires < time.time() or token.resource != resource:
            return _vault_error(
                401,
                "Unauthorized",
                "AKV10032: Invalid issuer or audience in the access token.",
                **{"WWW-Authenticate": challenge},
            )
        if self.control.deny_vault:
            message = (
                "Caller is not authorized to perform action on resource.\r\n"
                f"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n"
                f"Caller: appid={token.client_id};iss=https://sts.windows.net/{token.tenant_id}/\r\n"
                "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"
            )
            reply = json_reply(
                403,
                {
                    "error": {
                        "code": "Forbidden",
                        "message": message,
                        "innererror": {"code": "ForbiddenByRbac"},
                    }
                },
                "Forbidden",
            )
            return reply
        parts = [unquote(p) for p in req.raw_path.split("/") if p]
        if req.method != "GET" or len(parts) not in (2, 3) or parts[0] != "secrets":
            return _vault_error(
                400, "BadParameter", "This operation is not modelled by the stand-in."
            )
        name, version = parts[1], parts[2] if len(parts) == 3 else ""
        with self._lock:
            versions = list(self._secrets.get(name, []))
        chosen = [v for v in versions if v.version == version] if version else versions[-1:]
        if not chosen:
            shown = f"{name}/{version}" if version else name
            return _vault_error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {shown} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
            )
        secret = chosen[0]
        return json_reply(
            200,
            {
                "value": secret.value,
                "id": f"https://{req.host}/secrets/{name}/{secret.version}",
                "attributes": {
                    "enabled": True,
                    "created": secret.created,
                    "updated": secret.created,
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": {},
            },
        )
