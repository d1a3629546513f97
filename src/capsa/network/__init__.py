"""capsa.network: bridges, veth pairs, address management, published ports, nftables
rules and the embedded DNS server (layer L2: imports only capsa.kernel, capsa.oci,
capsa.errors and capsa.config).

The engine's calls, in order (see README "Networks" for the whole contract):

    from capsa.network.model import Attachment
    from capsa.network.netns import create_netns, remove_netns
    from capsa.network.networks import Networks
    netns = create_netns(config)                    # -> OCI linux.namespaces path
    with Networks(config) as networks:
        status = networks.setup(cid, netns, [Attachment("bridge")], ports,
                                container_name="web")
        # capsa.network.resolv: resolv_conf_content(status), hosts_content(status, ...)
        ...
        networks.teardown(cid)                      # idempotent, also after a crash
    remove_netns(netns)
"""
