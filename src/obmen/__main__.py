"""`python -m obmen` runs the CLI."""

from obmen.cli.main import main

main()
