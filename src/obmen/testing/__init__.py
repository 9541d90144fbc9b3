"""Test doubles: an in-memory system that implements the connector contract (`fakes`)."""
