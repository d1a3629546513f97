"""The processes a container start forks: the intermediate and the container's init."""
