"""The per-container monitor (Podman's conmon, containerd's shim): holds the container's
stdio, writes its log, serves attach clients, waits for its exit and reports it. Policy
(what to record, whether to restart) comes from the caller's hooks."""
