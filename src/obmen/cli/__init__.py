"""The `obmen` command, one module per command group."""
