"""The local image store as a transport: copy images into `capsa.store.Store` (layers
unpacked once, keyed by chain ID) and back out of it, byte for byte."""
