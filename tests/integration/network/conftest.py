"""The `lab` fixture (see network_lab.py)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from network_lab import (
    UPLINK_HOST,
    UPLINK_OUTSIDE,
    Lab,
    _kill_dns_server,
    _unmount_under,
    host_links,
    host_ruleset,
)

from capsa.config import Config
from capsa.kernel import nftables
from capsa.network.netlink import Netlink
from capsa.network.netns import create_netns, entered, remove_netns, remove_netns_dir
from capsa.network.networks import Networks


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not nftables.available():
        pytest.skip("libnftables is not installed (apt-get install nftables)")
    outer = Config(
        root=tmp_path / "outer",
        run_root=tmp_path / "outer-run",
        runtime_root=tmp_path / "outer-run" / "runtime",
    )
    config = Config(
        root=tmp_path / "root", run_root=tmp_path / "run", runtime_root=tmp_path / "run" / "runtime"
    )
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")
    host = create_netns(outer, f"host-{secrets.token_hex(4)}")
    outside = create_netns(outer, f"outside-{secrets.token_hex(4)}")
    lab_ = None
    try:
        with entered(host), Netlink() as nl:
            nl.set_link(nl.link("lo").index, up=True)  # type: ignore[union-attr]
            fd = os.open(outside, os.O_RDONLY)
            try:
                index = nl.add_veth("uplink", "eth0", fd, "02:00:c0:00:02:02")
            finally:
                os.close(fd)
            nl.add_address(index, UPLINK_HOST)
            nl.set_link(index, up=True)
        with entered(outside), Netlink() as nl:
            nl.set_link(nl.link("lo").index, up=True)  # type: ignore[union-attr]
            eth0 = nl.link("eth0")
            assert eth0 is not None
            nl.add_address(eth0.index, UPLINK_OUTSIDE)
            nl.set_link(eth0.index, up=True)
        networks = Networks(config, host_netns=host, resolv_conf=resolv_conf)
        lab_ = Lab(tmp_path, outer, config, host, outside, resolv_conf, networks)
        yield lab_
        # What a test leaves must be gone once capsa removes it: check before the lab
        # itself goes (which would hide leaks).
        networks.reset()
        assert host_links(lab_) == {"lo", "uplink"}
        assert host_ruleset(lab_) == []
        assert not (config.run_root / "network" / "dns.sock").exists()
        assert not (config.run_root / "network" / "dns.pid").exists()
    finally:
        if lab_ is not None:
            lab_.close()
            _kill_dns_server(lab_)
            with contextlib.suppress(Exception):
                lab_.networks.close()
            for path in lab_.containers:
                remove_netns(path)
        remove_netns(host)
        remove_netns(outside)
        remove_netns_dir(outer)
        remove_netns_dir(config)
        _unmount_under(tmp_path)
