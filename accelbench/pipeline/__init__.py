"""The engine: record schemas, the append-only Parquet store, Ray scheduling, resume, progress."""
