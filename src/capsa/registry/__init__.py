"""capsa's OCI distribution registry server (`capsa registry serve`).

A small ASGI application of our own (`capsa.registry.http`) over a storage directory
(`capsa.registry.storage`): content-addressed blobs verified before they are accepted,
per-repository links, tags as small files, uploads that leave nothing when they fail or
are abandoned, and garbage collection of unreferenced blobs (`capsa.registry.gc`).
Authentication (`capsa.registry.auth`) is htpasswd users over basic auth or bearer
tokens the server issues itself. `capsa.registry.server` runs it all on granian.
"""
