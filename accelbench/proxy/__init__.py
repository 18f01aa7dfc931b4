"""Proxy search: the cheapest training recipe that still ranks architectures like a reference (an experiment built on `collect`)."""
