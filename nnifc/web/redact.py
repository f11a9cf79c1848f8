"""The config as the view shows it: every key and value, with anything token-like hidden.

nnifc's own settings hold no secrets (Key Vault and secret *names* are shown), but a trial
command or classArgs may carry one: `HF_TOKEN=... python train.py`, `--password x`, a URL with
a password, an `Authorization: Bearer` header. Keys and values that look like that are shown as
HIDDEN. A browser page is easily shared, so this errs on the side of hiding.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

HIDDEN = "(hidden)"
_SECRET_WORD = (
    r"token|secret|passw(?:or)?d|pwd|api[-_]?key|access[-_]?key|account[-_]?key|private[-_]?key"
    r"|credential|connection[-_]?string|sas|signature|auth\w*|cookie|session"
)
_SECRET_KEY = re.compile(rf"(?i)({_SECRET_WORD})")
_SECRET_KEY_NAMES = {"name", "vaultName", "vault_name"}  # Key Vault names, not secrets
_ASSIGNMENT = re.compile(rf"(?i)\b([\w.-]*(?:{_SECRET_WORD})[\w.-]*)(\s*[=:]\s*)(\S+)")
_OPTION = re.compile(rf"(?i)(--?[\w-]*(?:{_SECRET_WORD})[\w-]*)(\s+)(?!-)(\S+)")
_URL_SIGNATURE = re.compile(r"(?i)([?&]sig=)[^&\s]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+\S+")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@")


def hide_in_text(text: str) -> str:
    """`text` with the values of token-like assignments, options and URLs hidden."""
    text = _URL_PASSWORD.sub(rf"\1:{HIDDEN}@", text)
    text = _BEARER.sub(rf"\1 {HIDDEN}", text)
    text = _URL_SIGNATURE.sub(rf"\1{HIDDEN}", text)
    text = _OPTION.sub(lambda m: f"{m[1]}{m[2]}{HIDDEN}", text)
    return _ASSIGNMENT.sub(lambda m: f"{m[1]}{m[2]}{HIDDEN}", text)


def _secret_key(key: str) -> bool:
    return key not in _SECRET_KEY_NAMES and bool(_SECRET_KEY.search(key))


def config_entries(config_text: str) -> list[tuple[str, str]]:
    """(dotted key, value) for every leaf of the YAML config, secrets hidden; comments dropped."""
    try:
        document = YAML(typ="safe", pure=True).load(config_text)
    except YAMLError:
        return [("config", "(not readable as YAML)")]
    entries: list[tuple[str, str]] = []
    _walk(document, "", entries)
    return entries


def _walk(value: Any, key: str, entries: list[tuple[str, str]]) -> None:
    leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
    if key and _secret_key(leaf):
        entries.append((key, HIDDEN))
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{key}.{k}" if key else str(k), entries)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{key}[{i}]", entries)
    else:
        entries.append((key, hide_in_text("" if value is None else str(value))))
