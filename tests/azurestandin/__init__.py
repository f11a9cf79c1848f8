"""A local stand-in for Azure Files, Key Vault and Entra ID, driven by the real Azure SDKs.

Why: no emulator for Azure Files or Key Vault exists here (Azurite has no File service), yet
the launcher's Azure storage path should be exercised over the wire, with real SharedKey
signing, real bearer challenges and real MSAL token requests.
"""

from .fixture import AzureStandin, azure_standin, start_standin
from .state import LoggedRequest

__all__ = ["AzureStandin", "LoggedRequest", "azure_standin", "start_standin"]
