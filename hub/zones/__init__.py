"""Zones: other provinces' hubs, reached through theirs (issue 15, item 4)."""
