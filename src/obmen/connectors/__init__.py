"""Connectors: one package per external system, speaking its protocol, mapping it to the canonical model."""
