"""Configuration: typed settings (`settings`), their loader (`load`), the mapping tables and their logic."""
