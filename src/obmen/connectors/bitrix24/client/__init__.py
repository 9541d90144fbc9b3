"""The Bitrix24 REST client: wire format and error classes, credentials, the portal's limits."""
