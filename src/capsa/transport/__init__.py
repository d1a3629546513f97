"""Where images come from and go to, and the one pipeline that moves them.

A transport is a package with a `source.py` (an ImageSource) and a `dest.py` (an
ImageDestination); copy_image() moves one image, or a whole index, from any source to any
destination, verifying every byte on the way. Transports here:

    oci:PATH[:REF]                 an OCI image layout directory
    oci-archive:PATH[:REF]         a tar of an OCI image layout
    docker-archive:PATH[:REF]      what `docker save` writes and `docker load` reads

Public surface:

    capsa.transport.types       ImageSource, ImageDestination, BlobReader, BlobProgress
    capsa.transport.errors      DigestMismatch, SizeMismatch, UnknownTransport
    capsa.transport.copy        copy_image()
    capsa.transport.reference   parse_transport_reference(), TransportReference
    capsa.transport.open        open_source(), open_destination(), reading(), writing()

This package imports nothing heavy at import time; a transport's modules load when a
reference names it.
"""
