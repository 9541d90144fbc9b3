"""1C:Enterprise as obmen sees it: a pull-only partner behind the exchange endpoint (docs/architecture.md).

See §2.7.
"""
