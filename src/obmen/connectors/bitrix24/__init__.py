"""Bitrix24: REST client, CRM and catalog mapping, events (docs/bitrix24.md)."""
