"""The 1C-Bitrix site as seen by obmen: obmen plays 1C toward its exchange (docs/architecture.md §2.7)."""
