"""`python -m obmen` runs the CLI."""

from obmen.cli import main

main()
