"""The sandbox 1C's standard OData interface (v3, УТ 11 names) and the ObmenPing extension's service.

Written from 1C's documentation of the standard interface (URL shape, `$metadata`, query options,
`DataVersion`, the tabular-part rule, posting) and from the extension's own description; it never
imports obmen.
"""
