package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// setting is one input of a node's machine configuration (its config drive).
type setting struct {
	key    string
	value  string
	secret bool
	// shared marks a cluster-wide setting: a change to it is not the node's own.
	shared bool
}

// clusterInputs are the cluster-wide settings, computed once per cluster.
type clusterInputs struct {
	cluster     *model.Cluster
	nameservers string
	masters     string
}

func newClusterInputs(c *model.Cluster) clusterInputs {
	return clusterInputs{cluster: c, nameservers: joinValues(c.DNS.Nameservers), masters: masterList(c)}
}

// machineConfig lists, in a fixed order, everything that feeds a node's config drive: its own
// settings and the cluster-wide settings its role consumes. Two nodes' configs are equal
// exactly when the config drives built from them are.
func machineConfig(ci clusterInputs, n *model.Node) []setting {
	c := ci.cluster
	s := []setting{
		{key: "hostname", value: n.Name.V},
		{key: "provision_id", value: strconv.Itoa(n.ProvisionID.V)},
		{key: "lan.mac", value: strings.ToLower(n.LAN.MAC.V)},
		{key: "lan.ip", value: n.LAN.IP.V},
		{key: "lan.vlan", value: strconv.Itoa(n.LAN.VLAN.V)},
		{key: "lan.gateway", value: n.LAN.Gateway.V},
		{key: "flavor", value: n.Flavor.V},
		{key: "dns.nameservers", value: ci.nameservers, shared: true},
		{key: "dns.data_domain", value: c.DNS.DataDomain.V, shared: true},
		{key: "role", value: string(n.Role)},
	}
	// Every role finds the masters: masters form the ZooKeeper and etcd ensembles, agents and
	// DNS servers connect to them.
	s = append(s, setting{key: "masters", value: ci.masters, shared: true})
	if n.Role == model.Masters || n.Role == model.Agents {
		s = append(s, setting{key: "etcd.token", value: c.Etcd.Token.V, shared: true})
	}
	if n.Role == model.Masters {
		s = append(s,
			setting{key: "marathon.username", value: c.Marathon.Username.V, shared: true},
			setting{key: "marathon.password", value: c.Marathon.Password.Fingerprint(), secret: true, shared: true},
		)
	}
	return s
}

// masterList is the ensemble as every node sees it: name, ZooKeeper id and address.
func masterList(c *model.Cluster) string {
	var parts []string
	for _, m := range c.RoleNodes(model.Masters) {
		parts = append(parts, fmt.Sprintf("%s=%d@%s", m.Name.V, m.ProvisionID.V, m.LAN.IP.V))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func joinValues(vs []model.Value[string]) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.V
	}
	return strings.Join(parts, ",")
}

// configHash is the SHA-256 of a node's machine configuration, recorded on the Ironic node so
// the bot can tell whether a deployed node matches git.
func configHash(settings []setting) string {
	buf := make([]byte, 0, 512)
	for _, s := range settings {
		buf = strconv.AppendInt(buf, int64(len(s.key)), 10)
		buf = append(buf, ':')
		buf = append(buf, s.key...)
		buf = append(buf, '=')
		buf = strconv.AppendInt(buf, int64(len(s.value)), 10)
		buf = append(buf, ':')
		buf = append(buf, s.value...)
		buf = append(buf, '\n')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// configReasons says which settings differ, with old and new values except for secrets, and
// whether any of them is the node's own rather than cluster-wide.
func configReasons(old, cur []setting) (reasons []string, own bool) {
	prev := map[string]setting{}
	for _, s := range old {
		prev[s.key] = s
	}
	var out []string
	for _, s := range cur {
		o, ok := prev[s.key]
		if !ok || o.value != s.value {
			own = own || !s.shared
		}
		switch {
		case !ok:
			out = append(out, s.key+" added")
		case o.value == s.value:
		case s.secret:
			out = append(out, s.key+" changed")
		case s.key == "masters":
			out = append(out, "master list changed: "+listDiff(o.value, s.value))
		default:
			out = append(out, fmt.Sprintf("%s: %s → %s", s.key, orNone(o.value), orNone(s.value)))
		}
	}
	return out, own
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// listDiff describes the difference of two comma-separated lists.
func listDiff(old, cur string) string {
	o, c := strings.Split(old, ","), strings.Split(cur, ",")
	var parts []string
	for _, x := range c {
		if x != "" && !slices.Contains(o, x) {
			parts = append(parts, "+"+x)
		}
	}
	for _, x := range o {
		if x != "" && !slices.Contains(c, x) {
			parts = append(parts, "-"+x)
		}
	}
	return strings.Join(parts, " ")
}
