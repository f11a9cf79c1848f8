"""Where the CLI writes: one console for results, one for warnings and errors."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped output keeps whole tables (rich would squeeze them into 80 columns).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)
