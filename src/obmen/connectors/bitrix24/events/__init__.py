"""Bitrix24 events: the inbound hook routes, online and offline notices as keys, echo suppression."""
