"""Trials as FrameworkController Frameworks: everything nnifc knows about FrameworkController.

Why a package: the Framework manifest, the one client for Framework calls, the watch, the
background creates and deletes, the experiment's Secrets, the preflight checks and the
cluster-wide views (`status --cluster`, `stop --orphans`) are one platform's concern. Nothing
outside this package imports the Kubernetes client; the rest of nnifc sees only the Platform.
"""

from __future__ import annotations

from nnifc.platforms.frameworkcontroller.platform import FrameworkControllerPlatform

__all__ = ["FrameworkControllerPlatform"]
