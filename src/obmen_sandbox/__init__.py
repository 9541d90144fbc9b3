"""Sandboxes: faithful emulators of Bitrix24 REST, a 1C-Bitrix site and 1C; they never import obmen."""
