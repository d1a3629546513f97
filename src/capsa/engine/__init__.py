"""The container engine: user intent to OCI config, lifecycle, state."""
