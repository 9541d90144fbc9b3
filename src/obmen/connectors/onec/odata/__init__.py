"""1C through its standard OData interface, with change capture by polling or the ObmenPing extension.

See docs/protocols/onec.md §A1 and §A2: `client` (HTTP, errors), `mapping` (rows ⇄ canonical fields),
`connector`, `feed` (changes), `hooks` (1C's pings), wired by `obmen.connectors.onec.setup`.
"""
