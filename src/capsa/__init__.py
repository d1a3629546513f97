"""capsa: a container engine written in Python."""

__version__ = "0.1.0"
OCI_RUNTIME_SPEC_VERSION = "1.2.0"
