"""The part of ctypes capsa calls C with, defined straight on CPython's `_ctypes`.

`import ctypes` costs ~1.5 ms here, more than any other module a container start
imports: its __init__ defines every C type and pointer cache, then `ctypes._endian`
builds the byte-swapped structures, and it pulls in `types` and `struct`. capsa needs a
dozen names of it. They are defined here the way ctypes/__init__.py defines them (a C
type is a subclass of `_SimpleCData` naming its struct format code; a library's
function is a `CFuncPtr` subclass that carries the calling flags), so they behave as
ctypes' own: they are the same `_ctypes` machinery, and values of either kind can be
passed where the other's are declared.

Only for LP64 Linux (x86_64, aarch64), where long and size_t are 64 bits.
"""

from __future__ import annotations

import _ctypes
from _ctypes import Structure, addressof, byref, get_errno, sizeof

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Checked as ctypes' own: these behave the same.
    from ctypes import (
        CDLL,
        PyDLL,
        c_char,
        c_char_p,
        c_int,
        c_long,
        c_size_t,
        c_uint,
        c_uint32,
        c_uint64,
        c_ulong,
        c_ushort,
        c_void_p,
        create_string_buffer,
        pythonapi,
    )
else:

    def _c_type(name, code):
        """A C type as ctypes defines one: a _SimpleCData subclass naming its struct code."""
        return type(name, (_ctypes._SimpleCData,), {"_type_": code, "__module__": __name__})

    c_ushort = _c_type("c_ushort", "H")
    c_int = _c_type("c_int", "i")
    c_uint = _c_type("c_uint", "I")
    c_long = _c_type("c_long", "l")
    c_ulong = _c_type("c_ulong", "L")
    c_char = _c_type("c_char", "c")
    c_char_p = _c_type("c_char_p", "z")
    c_void_p = _c_type("c_void_p", "P")
    c_uint32 = c_uint
    c_uint64 = c_ulong  # LP64
    c_size_t = c_ulong  # LP64

    def create_string_buffer(init, size=None):
        """A mutable char array: `init`'s bytes (NUL-terminated unless `size` says
        otherwise), or `init` zero bytes."""
        if isinstance(init, int):
            return (c_char * init)()
        buffer = (c_char * (len(init) + 1 if size is None else size))()
        buffer.value = init
        return buffer

    class CDLL:
        """A shared library; its functions are attributes (or items, each a new object with
        argtypes and restype of its own), returning int unless told otherwise."""

        _func_flags_ = _ctypes.FUNCFLAG_CDECL

        def __init__(self, name, *, use_errno=False):
            flags = self._func_flags_ | (_ctypes.FUNCFLAG_USE_ERRNO if use_errno else 0)

            class _FuncPtr(_ctypes.CFuncPtr):
                _flags_ = flags
                _restype_ = c_int

            self._FuncPtr = _FuncPtr
            self._handle = _ctypes.dlopen(name, _ctypes.RTLD_LOCAL)

        def __getattr__(self, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            function = self[name]
            setattr(self, name, function)
            return function

        def __getitem__(self, name):
            function = self._FuncPtr((name, self))
            function.__name__ = name
            return function

    class PyDLL(CDLL):
        """A library whose functions are called with the GIL held (the Python C API)."""

        _func_flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_PYTHONAPI

    pythonapi = PyDLL(None)

__all__ = [
    "CDLL",
    "PyDLL",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_long",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_uint64",
    "c_ulong",
    "c_ushort",
    "c_void_p",
    "create_string_buffer",
    "get_errno",
    "pythonapi",
    "sizeof",
]
