"""OCI archives, tars of an OCI image layout: `oci-archive:PATH[:REF]`."""
