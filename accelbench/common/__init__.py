"""What every floor shares: the root errors, the TOML and JSON-lines readers, the cache root."""
