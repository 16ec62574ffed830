package cloudconfig

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// networkData is network_data.json as Nova writes it
// (https://docs.openstack.org/nova/latest/user/metadata.html) and cloud-init's ConfigDrive
// source reads it.
//
// Every NIC of the node's server is a "phy" link, so that cloud-init names it by MAC; only the
// LAN's NIC carries the network, through a "vlan" link when the LAN has a VLAN. The two NICs of
// a server go to two top-of-rack switches, which suggests a bond, but the model says nothing
// about one (mode, LACP, which NICs) and the LAN names one MAC: no bond is made.
func networkData(in input) (map[string]any, error) {
	lan := in.node.LAN
	mac := strings.ToLower(lan.MAC.V)
	var links []any
	lanLink := ""
	for i, nic := range in.server.Network {
		id := fmt.Sprintf("nic%d", i)
		m := strings.ToLower(nic.MAC.V)
		// The model does not know the MTU; cloud-init then leaves the interface's own.
		links = append(links, map[string]any{
			"id":                   id,
			"type":                 "phy",
			"ethernet_mac_address": m,
		})
		if m == mac && lanLink == "" {
			lanLink = id
		}
	}
	if lanLink == "" {
		return nil, fmt.Errorf("lan.mac %s is not a NIC of server %q", lan.MAC.V, in.server.Name.V)
	}
	if lan.VLAN.V != 0 {
		phy := lanLink
		lanLink = fmt.Sprintf("%s.%d", phy, lan.VLAN.V)
		links = append(links, map[string]any{
			"id":               lanLink,
			"type":             "vlan",
			"vlan_link":        phy,
			"vlan_id":          lan.VLAN.V,
			"vlan_mac_address": mac,
		})
	}

	prefix, err := netip.ParsePrefix(lan.IP.V)
	if err != nil || !prefix.Addr().Is4() {
		return nil, fmt.Errorf("lan.ip %q is not an IPv4 address with a prefix", lan.IP.V)
	}
	network := map[string]any{
		"id":         "network0",
		"type":       "ipv4",
		"link":       lanLink,
		"ip_address": prefix.Addr().String(),
		"netmask":    net.IP(net.CIDRMask(prefix.Bits(), 32)).String(),
		"network_id": networkID(in),
	}
	if lan.Gateway.V != "" {
		gw, err := netip.ParseAddr(lan.Gateway.V)
		if err != nil || !gw.Is4() {
			return nil, fmt.Errorf("lan.gateway %q is not an IPv4 address", lan.Gateway.V)
		}
		network["routes"] = []any{map[string]any{
			"network": "0.0.0.0",
			"netmask": "0.0.0.0",
			"gateway": gw.String(),
		}}
	}

	services := []any{}
	for _, ns := range in.cluster.DNS.Nameservers {
		services = append(services, map[string]any{"type": "dns", "address": ns.V})
	}
	return map[string]any{
		"links":    links,
		"networks": []any{network},
		"services": services,
	}, nil
}

// networkID names the LAN without Neutron: the cluster and its subnet (and VLAN).
func networkID(in input) string {
	p, _ := netip.ParsePrefix(in.node.LAN.IP.V)
	id := in.cluster.Name.V + "/" + p.Masked().String()
	if v := in.node.LAN.VLAN.V; v != 0 {
		id += fmt.Sprintf("/vlan%d", v)
	}
	return id
}
