"""Docker archives, what `docker save` writes: `docker-archive:PATH[:REF]`."""
