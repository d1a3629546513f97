"""A small synchronous rtnetlink client: pyroute2's message classes (the encoding and
decoding of links, addresses, routes and their nested attributes) over a plain socket.

Why not pyroute2's IPRoute: `import pyroute2` imports every module the library has
(asyncio, NDB, IPDB, the wireless and devlink families...), about 100 ms here, and
IPRoute runs an asyncio loop per call; the messages alone load in ~15 ms, which matters
on `capsa run`'s path. The socket belongs to the network namespace of the thread that
makes the client (see capsa.network.netns.entered).
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import ipaddress
import os
import socket
import struct
import sys
import types
from dataclasses import dataclass
from typing import Any

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1
_HEADER = struct.Struct("=IHHII")


def _import_messages() -> tuple[Any, Any, Any]:
    """pyroute2's ifinfmsg, ifaddrmsg and rtmsg, without running the package's
    __init__ when nothing has imported pyroute2 yet: a bare package module stands in
    while the three load, then goes, so a later `import pyroute2` runs the real one."""
    names = (
        "pyroute2.netlink.rtnl.ifinfmsg",
        "pyroute2.netlink.rtnl.ifaddrmsg",
        "pyroute2.netlink.rtnl.rtmsg",
    )
    stub = None
    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("pyroute2 is not installed")
        stub = types.ModuleType("pyroute2")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__spec__ = spec
        sys.modules["pyroute2"] = stub
    try:
        modules = [importlib.import_module(name) for name in names]
    finally:
        if stub is not None and sys.modules.get("pyroute2") is stub:
            del sys.modules["pyroute2"]
    return modules[0].ifinfmsg, modules[1].ifaddrmsg, modules[2].rtmsg


_messages: tuple[Any, Any, Any] | None = None


def _classes() -> tuple[Any, Any, Any]:
    global _messages
    if _messages is None:
        _messages = _import_messages()
    return _messages


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str | None
    master: int | None
    up: bool
    mac: str | None


@dataclass(frozen=True)
class Address:
    index: int
    interface: ipaddress.IPv4Interface


@dataclass(frozen=True)
class Route:
    destination: ipaddress.IPv4Network
    oif: int | None
    gateway: ipaddress.IPv4Address | None


class NetlinkError(OSError):
    """The kernel refused a request; errno is the kernel's."""


class Netlink:
    """One NETLINK_ROUTE socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self._ifinfmsg, self._ifaddrmsg, self._rtmsg = _classes()
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------

    def _send(self, msg: Any, kind: int, flags: int) -> int:
        self._seq += 1
        msg["header"]["type"] = kind
        msg["header"]["flags"] = flags
        msg["header"]["sequence_number"] = self._seq
        msg["header"]["pid"] = 0
        msg.encode()
        self._sock.send(bytes(msg.data))
        return self._seq

    def _replies(self, seq: int, what: str) -> list[tuple[int, bytes]]:
        """Messages answering `seq` until the ACK or NLMSG_DONE; raise on an error."""
        found: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, flags, number, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise NetlinkError(errno.EPROTO, f"{what}: a malformed netlink reply")
                body = data[offset : offset + length]
                offset += (length + 3) & ~3
                if number != seq:
                    continue
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", body, _HEADER.size)
                    if code == 0:
                        return found
                    raise NetlinkError(-code, f"{what}: {os.strerror(-code)}")
                if kind == NLMSG_DONE:
                    return found
                found.append((kind, body))
                if not flags & NLM_F_MULTI:
                    return found

    def _request(self, msg: Any, kind: int, flags: int, what: str) -> None:
        self._replies(self._send(msg, kind, flags | NLM_F_REQUEST | NLM_F_ACK), what)

    def _dump(self, cls: Any, kind: int, what: str, family: int = socket.AF_INET) -> list[Any]:
        msg = cls()
        msg["family"] = family
        seq = self._send(msg, kind, NLM_F_REQUEST | NLM_F_DUMP)
        result = []
        for _, body in self._replies(seq, what):
            item = cls(body)
            item.decode()
            result.append(item)
        return result

    # -- links ---------------------------------------------------------------------------

    def _link(self, item: Any) -> Link:
        info = item.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        master = item.get_attr("IFLA_MASTER")
        return Link(
            index=item["index"],
            name=item.get_attr("IFLA_IFNAME"),
            kind=kind,
            master=master or None,
            up=bool(item["flags"] & IFF_UP),
            mac=item.get_attr("IFLA_ADDRESS"),
        )

    def links(self) -> list[Link]:
        return [
            self._link(m)
            for m in self._dump(self._ifinfmsg, RTM_GETLINK, "listing links", socket.AF_UNSPEC)
        ]

    def link(self, name: str) -> Link | None:
        msg = self._ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        try:
            replies = self._replies(
                self._send(msg, RTM_GETLINK, NLM_F_REQUEST), f"looking up link {name}"
            )
        except NetlinkError as error:
            if error.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        for kind, body in replies:
            if kind == RTM_NEWLINK:
                item = self._ifinfmsg(body)
                item.decode()
                return self._link(item)
        return None

    def add_bridge(self, name: str, mac: str, mtu: int | None = None) -> int:
        msg = self._ifinfmsg()
        attrs: list[tuple[str, Any]] = [
            ("IFLA_IFNAME", name),
            ("IFLA_ADDRESS", mac),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}),
        ]
        if mtu:
            attrs.append(("IFLA_MTU", mtu))
        msg["attrs"] = attrs
        self._request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, f"creating bridge {name}")
        return self._index(name)

    def add_veth(
        self,
        name: str,
        peer: str,
        peer_netns_fd: int,
        peer_mac: str,
        mtu: int | None = None,
    ) -> int:
        """A veth pair whose peer is made directly inside another namespace (by fd)."""
        peer_attrs: list[tuple[str, Any]] = [
            ("IFLA_IFNAME", peer),
            ("IFLA_NET_NS_FD", peer_netns_fd),
            ("IFLA_ADDRESS", peer_mac),
        ]
        attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", name)]
        if mtu:
            peer_attrs.append(("IFLA_MTU", mtu))
            attrs.append(("IFLA_MTU", mtu))
        info = {
            "attrs": [
                ("IFLA_INFO_KIND", "veth"),
                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs})]}),
            ]
        }
        attrs.append(("IFLA_LINKINFO", info))
        msg = self._ifinfmsg()
        msg["attrs"] = attrs
        self._request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, f"creating veth {name} ({peer})")
        return self._index(name)

    def _index(self, name: str) -> int:
        link = self.link(name)
        if link is None:
            raise NetlinkError(errno.ENODEV, f"link {name} vanished right after creation")
        return link.index

    def set_link(
        self,
        index: int,
        *,
        up: bool | None = None,
        master: int | None = None,
        hairpin: bool | None = None,
        what: str = "changing a link",
    ) -> None:
        msg = self._ifinfmsg()
        msg["index"] = index
        attrs: list[tuple[str, Any]] = []
        if up is not None:
            msg["flags"] = IFF_UP if up else 0
            msg["change"] = IFF_UP
        if master is not None:
            attrs.append(("IFLA_MASTER", master))
        if hairpin is not None:
            # The bridge port sends frames back out the port they came in: a container
            # reaching its own published port through the host comes back to itself.
            slave = {"attrs": [("IFLA_BRPORT_MODE", 1 if hairpin else 0)]}
            attrs.append(
                (
                    "IFLA_LINKINFO",
                    {
                        "attrs": [
                            ("IFLA_INFO_SLAVE_KIND", "bridge"),
                            ("IFLA_INFO_SLAVE_DATA", slave),
                        ]
                    },
                )
            )
        msg["attrs"] = attrs
        self._request(msg, RTM_NEWLINK, 0, what)

    def delete_link(self, name: str) -> bool:
        """Delete a link by name; False if there was none."""
        msg = self._ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        try:
            self._request(msg, RTM_DELLINK, 0, f"deleting link {name}")
        except NetlinkError as error:
            if error.errno in (errno.ENODEV, errno.ENOENT):
                return False
            raise
        return True

    # -- addresses and routes ------------------------------------------------------------

    def add_address(self, index: int, interface: ipaddress.IPv4Interface) -> None:
        msg = self._ifaddrmsg()
        msg["family"] = socket.AF_INET
        msg["prefixlen"] = interface.network.prefixlen
        msg["index"] = index
        msg["attrs"] = [
            ("IFA_LOCAL", str(interface.ip)),
            ("IFA_ADDRESS", str(interface.ip)),
            ("IFA_BROADCAST", str(interface.network.broadcast_address)),
        ]
        try:
            self._request(
                msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, f"adding address {interface}"
            )
        except NetlinkError as error:
            if error.errno != errno.EEXIST:
                raise

    def addresses(self) -> list[Address]:
        result = []
        for item in self._dump(self._ifaddrmsg, RTM_GETADDR, "listing addresses"):
            local = item.get_attr("IFA_LOCAL") or item.get_attr("IFA_ADDRESS")
            if local is None:
                continue
            interface = ipaddress.IPv4Interface(f"{local}/{item['prefixlen']}")
            result.append(Address(item["index"], interface))
        return result

    def routes(self) -> list[Route]:
        result = []
        for item in self._dump(self._rtmsg, RTM_GETROUTE, "listing routes"):
            table = item.get_attr("RTA_TABLE") or item["table"]
            if table != RT_TABLE_MAIN:
                continue
            dst = item.get_attr("RTA_DST") or "0.0.0.0"
            gateway = item.get_attr("RTA_GATEWAY")
            result.append(
                Route(
                    ipaddress.IPv4Network(f"{dst}/{item['dst_len']}", strict=False),
                    item.get_attr("RTA_OIF"),
                    ipaddress.IPv4Address(gateway) if gateway else None,
                )
            )
        return result

    def add_default_route(
        self, gateway: ipaddress.IPv4Address, index: int, mtu: int | None = None
    ) -> None:
        msg = self._rtmsg()
        msg["family"] = socket.AF_INET
        msg["dst_len"] = 0
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_BOOT
        msg["scope"] = RT_SCOPE_UNIVERSE
        msg["type"] = RTN_UNICAST
        msg["attrs"] = [("RTA_GATEWAY", str(gateway)), ("RTA_OIF", index)]
        if mtu:
            msg["attrs"].append(("RTA_METRICS", {"attrs": [("RTAX_MTU", mtu)]}))
        self._request(
            msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, f"adding a default route via {gateway}"
        )
