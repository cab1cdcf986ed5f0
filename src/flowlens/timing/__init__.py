"""The time model: calendars, business time, enabled times, start estimation, and the per-instance
decomposition of time into processing and waiting that every metric uses (docs/methods.md 6)."""
