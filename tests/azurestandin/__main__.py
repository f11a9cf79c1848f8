"""`python -m tests.azurestandin`: serve the Azure stand-in in the foreground for manual use.

Why: pointing the launcher's CLI (or `az`-free scripts) at the stand-in by hand is the quickest
way to see what a test sees. Prints endpoints and `export` lines; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from .fixture import start_standin


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.azurestandin", description=__doc__)
    parser.add_argument("--root", type=Path, help="working directory (default: a temp dir)")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="a Key Vault secret; without VALUE it holds the account key",
    )
    parser.add_argument(
        "--public-hosts",
        action="store_true",
        help="print env for the production host names (via the proxy)",
    )
    args = parser.parse_args()
    workdir = args.root or Path(tempfile.mkdtemp(prefix="azurestandin-"))
    standin = start_standin(workdir)
    for item in args.secret:
        name, sep, value = item.partition("=")
        standin.set_secret(name, value if sep else standin.account_key)
    print(f"shares:         {standin.root}")
    print(f"file endpoint:  {standin.file_endpoint}")
    print(f"vault url:      {standin.vault_url}")
    print(f"account:        {standin.account_name}  key: {standin.account_key}")
    for key, value in standin.env(public_hosts=args.public_hosts).items():
        print(f"export {key}={shlex.quote(value)}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
        if args.root is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
