"""OCI image layout directories: `oci:PATH[:REF]`."""
