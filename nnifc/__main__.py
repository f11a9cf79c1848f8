"""`python -m nnifc` is the `nnifc` command."""

from nnifc.cli import main

main()
