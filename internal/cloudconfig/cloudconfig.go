// Package cloudconfig builds a node's config drive — OpenStack's meta_data.json,
// network_data.json and a #cloud-config user data — as a pure function of the loaded fleet
// repository. Ironic writes the drive when it provisions the node; cloud-init in the base image
// reads it at first boot, configures the network and writes the node's machine-specific files
// under /etc/cluster/, where the images' units read them.
//
// Secrets are resolved here and nowhere else. A Drive holds their values; use Redacted for
// anything that is logged, shown or stored.
package cloudconfig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// SecretResolver turns a secret reference (e.g. "vault:secret/green/marathon#password") into
// its value; only the config drive calls it.
type SecretResolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

// Errors callers can test with errors.Is.
var (
	ErrUnknownCluster = errors.New("unknown cluster")
	ErrUnknownNode    = errors.New("unknown node")
	ErrNoServer       = errors.New("server not in the inventory")
	ErrSecret         = errors.New("secret cannot be used")
)

// Drive is a node's config drive.
type Drive struct {
	// MetaData is OpenStack's meta_data.json: uuid (the node's Ironic UUID), hostname (the
	// FQDN), name, launch_index and meta (cluster, role, provision_id).
	MetaData map[string]any
	// NetworkData is OpenStack's network_data.json: links, networks and services.
	NetworkData map[string]any
	// UserData is a "#cloud-config" document.
	UserData string

	// masked is UserData rendered with every secret replaced by model.Masked; secrets are the
	// resolved values, so that Redacted can also scrub a value that leaked elsewhere.
	masked  string
	secrets []string
}

// ForNode builds the config drive of one node of a cluster. It resolves the secrets the node's
// role needs through secrets, which may be nil for a role that needs none. Errors name the
// cluster, the node and a secret's reference, never a secret's value.
// A master's etcd starts as a member of a new cluster (ETCD_INITIAL_CLUSTER_STATE=new); see
// ForNodeWith for one that joins a running cluster.
func ForNode(ctx context.Context, repo *model.Repo, cluster, node string, secrets SecretResolver) (Drive, error) {
	return ForNodeWith(ctx, repo, cluster, node, secrets, Options{})
}

// Options are how a node boots, beside its configuration in the repository. They change the
// drive but not its Hash, which identifies the machine's configuration.
type Options struct {
	// JoinExisting says the node joins a running cluster rather than bootstrapping a new one
	// with the other masters: a master's etcd starts with ETCD_INITIAL_CLUSTER_STATE=existing
	// (its member must have been added to the cluster first: etcdctl member add, see package
	// etcdmember). False means "new": every master is provisioned together. It changes nothing
	// for other roles.
	JoinExisting bool
}

// ForNodeWith is ForNode with options.
func ForNodeWith(ctx context.Context, repo *model.Repo, cluster, node string, secrets SecretResolver, opts Options) (Drive, error) {
	in, err := lookup(repo, cluster, node)
	if err != nil {
		return Drive{}, err
	}
	in.opts = opts
	vals, err := resolve(ctx, in, secrets)
	if err != nil {
		return Drive{}, err
	}
	return build(in, vals)
}

// Hash is the SHA-256 of a node's config drive with every secret replaced by its fingerprint
// (the reference, never a value): what the plan can record on the Ironic node to tell whether
// a deployed node matches git. It resolves nothing. It does not depend on Options: the etcd
// bootstrap mode is left out, so a master re-imaged to join its running cluster has the hash of
// the one provisioned with the cluster.
func Hash(ctx context.Context, repo *model.Repo, cluster, node string) (string, error) {
	in, err := lookup(repo, cluster, node)
	if err != nil {
		return "", err
	}
	vals := map[string]string{}
	for _, s := range in.secretsNeeded() {
		vals[s.Ref.V] = "fingerprint:" + s.Fingerprint()
	}
	in.hashing = true
	d, err := build(in, vals)
	if err != nil {
		return "", err
	}
	b, err := d.JSON()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// JSON returns the dict Ironic's API takes as "configdrive" (API microversion 1.56 and later):
// {"meta_data": …, "network_data": …, "user_data": "…"}, with keys in sorted order.
func (d Drive) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(map[string]any{
		"meta_data":    d.MetaData,
		"network_data": d.NetworkData,
		"user_data":    d.UserData,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the config drive: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Redacted returns the same drive with every resolved secret replaced by "••••": for logs, dry
// runs and golden files.
func (d Drive) Redacted() Drive {
	out := Drive{MetaData: d.MetaData, NetworkData: d.NetworkData, UserData: d.UserData}
	if d.masked != "" {
		out.UserData = d.masked
	}
	for _, v := range d.secrets {
		if v != "" {
			out.UserData = strings.ReplaceAll(out.UserData, v, model.Masked)
		}
	}
	out.masked = out.UserData
	return out
}

// input is what a node's drive is built from.
type input struct {
	cluster *model.Cluster
	node    *model.Node
	server  *model.Server
	// masters are the cluster's masters by provision_id, so that reordering the file changes
	// nothing.
	masters []*model.Node
	opts    Options
	// hashing leaves the bootstrap mode (ETCD_INITIAL_CLUSTER_STATE) out of the user data, so
	// that Hash is what it was before the mode existed and does not depend on Options.
	hashing bool
}

func lookup(repo *model.Repo, cluster, node string) (input, error) {
	var c *model.Cluster
	if repo != nil {
		for _, x := range repo.Clusters {
			if x.Name.V == cluster {
				c = x
				break
			}
		}
	}
	if c == nil {
		return input{}, fmt.Errorf("config drive of node %q: cluster %q: %w", node, cluster, ErrUnknownCluster)
	}
	var n *model.Node
	for _, x := range c.Nodes {
		if x.Name.V == node {
			n = x
			break
		}
	}
	if n == nil {
		return input{}, fmt.Errorf("config drive of node %q: not in cluster %q: %w", node, cluster, ErrUnknownNode)
	}
	srv := repo.Server(node)
	if srv == nil {
		return input{}, fmt.Errorf("config drive of node %q: %w", node, ErrNoServer)
	}
	return input{cluster: c, node: n, server: srv, masters: sortedMasters(c)}, nil
}

// secretsNeeded lists the secrets the node's role puts on its drive.
func (in input) secretsNeeded() []model.Secret {
	if in.node.Role == model.Masters {
		return []model.Secret{in.cluster.Marathon.Password}
	}
	return nil
}

// resolve returns the values of the secrets the node needs, by reference.
func resolve(ctx context.Context, in input, r SecretResolver) (map[string]string, error) {
	vals := map[string]string{}
	for _, s := range in.secretsNeeded() {
		name := in.node.Name.V
		if s.Literal || !s.Ref.Set() || s.Ref.V == "" {
			return nil, fmt.Errorf("config drive of node %q: the cluster's secret is not a reference: %w", name, ErrSecret)
		}
		if r == nil {
			return nil, fmt.Errorf("config drive of node %q: secret %q: no resolver: %w", name, s.Ref.V, ErrSecret)
		}
		v, err := r.Resolve(ctx, s.Ref.V)
		if err != nil {
			// The resolver's error is wrapped, not trusted to be free of the value: it is the
			// resolver's job not to put it there.
			return nil, fmt.Errorf("config drive of node %q: resolving secret %q: %w", name, s.Ref.V, err)
		}
		if v == "" {
			return nil, fmt.Errorf("config drive of node %q: secret %q is empty: %w", name, s.Ref.V, ErrSecret)
		}
		vals[s.Ref.V] = v
	}
	return vals, nil
}

// build renders the drive from the input and the secrets' values by reference.
func build(in input, secrets map[string]string) (Drive, error) {
	name := in.node.Name.V
	nd, err := networkData(in)
	if err != nil {
		return Drive{}, fmt.Errorf("config drive of node %q: %w", name, err)
	}
	real, err := userData(in, secrets)
	if err != nil {
		return Drive{}, fmt.Errorf("config drive of node %q: %w", name, err)
	}
	masked := map[string]string{}
	var values []string
	for ref, v := range secrets {
		masked[ref] = model.Masked
		values = append(values, v)
	}
	red, err := userData(in, masked)
	if err != nil {
		return Drive{}, fmt.Errorf("config drive of node %q: %w", name, err)
	}
	return Drive{
		MetaData:    metaData(in),
		NetworkData: nd,
		UserData:    real,
		masked:      red,
		secrets:     values,
	}, nil
}

// metaData is meta_data.json. There are no public_keys: the model holds no SSH keys.
func metaData(in input) map[string]any {
	n := in.node
	uuid := n.IronicID.V
	if uuid == "" {
		uuid = in.server.IronicUUID.V
	}
	return map[string]any{
		"uuid":         uuid,
		"name":         n.Name.V,
		"hostname":     fqdn(in.cluster, n),
		"launch_index": 0,
		"meta": map[string]any{
			"cluster":      in.cluster.Name.V,
			"role":         string(n.Role),
			"provision_id": fmt.Sprint(n.ProvisionID.V),
		},
	}
}

// fqdn is the node's name in the cluster's data domain.
func fqdn(c *model.Cluster, n *model.Node) string {
	if d := strings.Trim(c.DNS.DataDomain.V, "."); d != "" {
		return n.Name.V + "." + d
	}
	return n.Name.V
}
