"""capsa.kernel: the only package that calls libc through ctypes.

Every call declares argtypes/restype and raises OSError with the real errno. `syscalls`
holds the `Syscalls` protocol the runtime programs against, the real implementation and a
recording fake for unit tests.
"""
