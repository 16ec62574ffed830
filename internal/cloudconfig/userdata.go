package cloudconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// file is one entry of cloud-config's write_files.
type file struct {
	path  string
	perm  string
	lines []string
}

// The ports the images' units use; they are fixed in the images (zoo.cfg, /etc/default/*).
const (
	zkClientPort = 2181
	zkPeerPorts  = "2888:3888"
	etcdPeerPort = 2380
	etcdClient   = 2379
)

// EtcdPeerURL is the peer URL a master's etcd advertises, http://IP:2380, for its LAN IP
// without the prefix length.
func EtcdPeerURL(ip string) string { return fmt.Sprintf("http://%s:%d", ip, etcdPeerPort) }

// userData renders the #cloud-config document. secrets maps a secret's reference to the text
// that stands for it: its value, or the mask.
//
// Files land where the images' units read them, all under /etc/cluster/ (see
// images/base/tree/etc/cluster/README):
//
//   - masters: zookeeper-myid and zookeeper-servers.cfg (zookeeper.service installs the first
//     as /var/lib/zookeeper/myid and appends the second to zoo.cfg), etcd.env (etcd.service.d),
//     mesos.env (mesos-master.service), marathon.env (marathon.service, mode 0600: it holds the
//     Marathon password);
//   - agents: mesos.env (mesos-slave.service);
//   - DNS servers: mesos-dns.json (merged over /etc/mesos-dns/config.json by mesos-dns.service)
//     and dns.env (pdns-recursor.service.d).
//
// Masters are addressed by IP, not by name: the cluster's own DNS servers may be the ones
// being re-provisioned.
func userData(in input, secrets map[string]string) (string, error) {
	var files []file
	var err error
	switch in.node.Role {
	case model.Masters:
		files, err = masterFiles(in, secrets)
	case model.Agents:
		files, err = agentFiles(in)
	case model.DNSServers:
		files, err = dnsFiles(in)
	default:
		err = fmt.Errorf("role %q has no config drive files", in.node.Role)
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	fmt.Fprintf(&b, "hostname: %s\n", quote(in.node.Name.V))
	fmt.Fprintf(&b, "fqdn: %s\n", quote(fqdn(in.cluster, in.node)))
	b.WriteString("manage_etc_hosts: true\n")
	b.WriteString("write_files:\n")
	for _, f := range files {
		fmt.Fprintf(&b, "  - path: %s\n", quote(f.path))
		b.WriteString("    owner: root:root\n")
		fmt.Fprintf(&b, "    permissions: %s\n", quote(f.perm))
		content := strings.Join(f.lines, "\n") + "\n"
		if literalOK(f.lines) {
			b.WriteString("    content: |\n")
			for _, l := range f.lines {
				b.WriteString("      " + l + "\n")
			}
		} else {
			fmt.Fprintf(&b, "    content: %s\n", quote(content))
		}
	}
	return b.String(), nil
}

func masterFiles(in input, secrets map[string]string) ([]file, error) {
	c, n := in.cluster, in.node
	ip, err := addr(n)
	if err != nil {
		return nil, err
	}
	var servers, initial []string
	for _, m := range in.masters {
		mip, err := addr(m)
		if err != nil {
			return nil, fmt.Errorf("master %q: %w", m.Name.V, err)
		}
		servers = append(servers, fmt.Sprintf("server.%d=%s:%s", m.ProvisionID.V, mip, zkPeerPorts))
		initial = append(initial, m.Name.V+"="+EtcdPeerURL(mip))
	}
	token := c.Etcd.Token.V
	if token == "" {
		token = c.Name.V
	}
	zk, err := zkURL(in)
	if err != nil {
		return nil, err
	}
	host := fqdn(c, n)

	pw := c.Marathon.Password
	value, ok := secrets[pw.Ref.V]
	if !ok {
		return nil, fmt.Errorf("secret %q was not resolved: %w", pw.Ref.V, ErrSecret)
	}
	etcdVars := []string{
		"ETCD_NAME", n.Name.V,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS", EtcdPeerURL(ip),
		"ETCD_ADVERTISE_CLIENT_URLS", fmt.Sprintf("http://%s:%d", ip, etcdClient),
		"ETCD_INITIAL_CLUSTER", strings.Join(initial, ","),
		"ETCD_INITIAL_CLUSTER_TOKEN", token,
	}
	if !in.hashing {
		// A master re-imaged into a running cluster has an empty data directory: as "new" etcd
		// would refuse to start; as "existing" it fetches the data from the other members.
		state := "new"
		if in.opts.JoinExisting {
			state = "existing"
		}
		etcdVars = append(etcdVars, "ETCD_INITIAL_CLUSTER_STATE", state)
	}
	etcd, err := env(etcdVars...)
	if err != nil {
		return nil, err
	}
	mesos, err := env(
		"MESOS_ZK", zk+"/mesos",
		"MESOS_QUORUM", strconv.Itoa(len(in.masters)/2+1),
		"MESOS_IP", ip,
		"MESOS_HOSTNAME", host,
	)
	if err != nil {
		return nil, err
	}
	marathon, err := env(
		"MARATHON_MASTER", zk+"/mesos",
		"MARATHON_ZK", zk+"/marathon",
		"MARATHON_HOSTNAME", host,
	)
	if err != nil {
		return nil, err
	}
	cred, err := env("MARATHON_HTTP_CREDENTIALS", c.Marathon.Username.V+":"+value)
	if err != nil {
		// Name the reference, never the value.
		return nil, fmt.Errorf("secret %q: %w", pw.Ref.V, err)
	}
	return []file{
		{path: "/etc/cluster/zookeeper-myid", perm: "0644", lines: []string{strconv.Itoa(n.ProvisionID.V)}},
		{path: "/etc/cluster/zookeeper-servers.cfg", perm: "0644", lines: servers},
		{path: "/etc/cluster/etcd.env", perm: "0644", lines: etcd},
		{path: "/etc/cluster/mesos.env", perm: "0644", lines: mesos},
		{path: "/etc/cluster/marathon.env", perm: "0600", lines: append(marathon, cred...)},
	}, nil
}

func agentFiles(in input) ([]file, error) {
	ip, err := addr(in.node)
	if err != nil {
		return nil, err
	}
	zk, err := zkURL(in)
	if err != nil {
		return nil, err
	}
	mesos, err := env(
		"MESOS_MASTER", zk+"/mesos",
		"MESOS_IP", ip,
		"MESOS_HOSTNAME", fqdn(in.cluster, in.node),
	)
	if err != nil {
		return nil, err
	}
	return []file{{path: "/etc/cluster/mesos.env", perm: "0644", lines: mesos}}, nil
}

func dnsFiles(in input) ([]file, error) {
	zk, err := zkURL(in)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]string{"zk": zk + "/mesos"}); err != nil {
		return nil, err
	}
	var ns []string
	for _, s := range in.cluster.DNS.Nameservers {
		ns = append(ns, s.V)
	}
	// pdns_recursor's --forward-zones-recurse separates a zone's servers with ";".
	dns, err := env("UPSTREAM_NAMESERVERS", strings.Join(ns, ";"))
	if err != nil {
		return nil, err
	}
	return []file{
		{path: "/etc/cluster/mesos-dns.json", perm: "0644", lines: []string{strings.TrimSuffix(buf.String(), "\n")}},
		{path: "/etc/cluster/dns.env", perm: "0644", lines: dns},
	}, nil
}

// sortedMasters returns the cluster's masters by provision_id (the ZooKeeper myid), then name.
func sortedMasters(c *model.Cluster) []*model.Node {
	ms := slices.Clone(c.RoleNodes(model.Masters))
	slices.SortStableFunc(ms, func(a, b *model.Node) int {
		if a.ProvisionID.V != b.ProvisionID.V {
			return a.ProvisionID.V - b.ProvisionID.V
		}
		return strings.Compare(a.Name.V, b.Name.V)
	})
	return ms
}

// zkURL is the masters' ZooKeeper ensemble, "zk://ip:2181,ip:2181", without a path.
func zkURL(in input) (string, error) {
	if len(in.masters) == 0 {
		return "", fmt.Errorf("cluster %q has no masters", in.cluster.Name.V)
	}
	var hosts []string
	for _, m := range in.masters {
		ip, err := addr(m)
		if err != nil {
			return "", fmt.Errorf("master %q: %w", m.Name.V, err)
		}
		hosts = append(hosts, fmt.Sprintf("%s:%d", ip, zkClientPort))
	}
	return "zk://" + strings.Join(hosts, ","), nil
}

// addr is a node's LAN address without its prefix.
func addr(n *model.Node) (string, error) {
	p, err := netip.ParsePrefix(n.LAN.IP.V)
	if err != nil || !p.Addr().Is4() {
		return "", fmt.Errorf("lan.ip %q is not an IPv4 address with a prefix", n.LAN.IP.V)
	}
	return p.Addr().String(), nil
}

// env renders KEY=value lines of a systemd EnvironmentFile from key, value pairs. A value with
// anything but plain characters is double-quoted with \, ", $ and ` escaped, which systemd
// reads back literally; control characters (a newline) cannot be written and are an error
// that names the key only.
func env(kv ...string) ([]string, error) {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%s holds a control character (a newline?), which an environment file cannot: %w", k, ErrSecret)
		}
		out = append(out, k+"="+envQuote(v))
	}
	return out, nil
}

func envQuote(v string) string {
	plain := v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_./:,=@%+-;", r)))
	}) < 0
	if plain {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if strings.ContainsRune("\\\"$`", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// quote is a YAML double-quoted scalar: a JSON string is one.
func quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// literalOK reports whether lines can be written as a YAML literal block as they are.
func literalOK(lines []string) bool {
	if len(lines) == 0 {
		return false
	}
	for _, l := range lines {
		if l == "" || l != strings.TrimSpace(l) {
			return false
		}
		for _, r := range l {
			if !unicode.IsPrint(r) || r == '\uFEFF' {
				return false
			}
		}
	}
	return true
}
