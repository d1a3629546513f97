"""Image builds: the Dockerfile front end (parser, substitution, ignore files)."""
