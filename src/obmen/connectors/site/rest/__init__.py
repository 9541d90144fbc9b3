"""The site through its REST and events: client, mapping, writes, connector, event hooks."""
