"""What every floor shares: the root errors, the config tables, the TOML reader, the cache root."""
