"""Discovery: what really happens. Directly-follows graphs, variants, case durations."""
