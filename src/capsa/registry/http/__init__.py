"""The registry's HTTP face: a small ASGI application of our own (no framework)."""
