"""Entry point of the frozen app: the same `stagelens` command as the installed package."""

from stagelens.cli import main

raise SystemExit(main())
