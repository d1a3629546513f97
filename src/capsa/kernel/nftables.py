"""libnftables through ctypes: nft's JSON interface in-process (what `nft -j -f -` does,
without a fork and exec per change).

A batch of commands is one kernel transaction: it applies whole or not at all. The
netlink socket belongs to the network namespace of the calling thread when the context is
made, so callers enter a namespace first and make the context inside it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from typing import Any

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4

_lib: Any = None


class NftablesError(OSError):
    """nft refused a batch; the message is libnftables' own error text."""


def _library() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as error:
            raise NftablesError(
                2, f"libnftables is not installed ({error}); apt-get install nftables"
            ) from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.restype = None
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.restype = None
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.restype = ctypes.c_int
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.restype = ctypes.c_int
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _lib = lib
    return _lib


def available() -> bool:
    try:
        _library()
    except NftablesError:
        return False
    return True


def run(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a batch of nft JSON commands (`[{"add": {"table": ...}}, ...]`) as one
    transaction in the calling thread's network namespace; return the JSON output
    objects (for `list` commands), or raise NftablesError with nft's message."""
    lib = _library()
    ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
    if not ctx:
        raise NftablesError(12, "nft_ctx_new failed")
    try:
        lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        text = json.dumps({"nftables": commands}).encode()
        result = lib.nft_run_cmd_from_buffer(ctx, text)
        output = lib.nft_ctx_get_output_buffer(ctx) or b""
        if result != 0:
            errors = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
            first = next((line for line in errors.splitlines() if line.strip()), "")
            raise NftablesError(22, f"nft: {first or 'the batch was refused'}")
    finally:
        lib.nft_ctx_free(ctx)
    if not output.strip():
        return []
    parsed = json.loads(output)
    items = parsed.get("nftables", []) if isinstance(parsed, dict) else []
    return [item for item in items if isinstance(item, dict)]
