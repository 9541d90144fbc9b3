"""Bitrix24: REST client, CRM and catalog mapping, events (docs/protocols/bitrix24.md)."""
