"""The sync engine: key queue, reconciler, three-way merge, field policy, worker and scheduler."""
