"""The 1C-Bitrix site as seen by obmen: obmen plays 1C toward its exchange (ARCHITECTURE §2.7)."""
