package etcdmember

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/cloudconfig"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// DefaultPort is etcd's client port when the cluster's etcd check sets none.
const DefaultPort = 2379

// Masters replaces the etcd members of a cluster's masters, which run etcd as the config drive
// configures it (package cloudconfig).
type Masters struct {
	Cluster *model.Cluster
	// Port is the masters' etcd client port.
	Port int
	// Resolve maps a master and a port to the host:port to dial (the health gates' resolver);
	// nil means the master's LAN IP.
	Resolve func(n *model.Node, port int) string
	// Client makes the requests; nil means a client that gives up on one request after 10s.
	Client *http.Client
}

// ForCluster returns the Masters of cluster when its specs have an etcd check (whose port it
// takes), and false when they have none: then etcd is not looked after.
func ForCluster(cluster *model.Cluster, specs []*model.ClusterSpec) (Masters, bool) {
	for _, s := range specs {
		if s.Cluster.V != cluster.Name.V {
			continue
		}
		for _, c := range s.Checks {
			if c.Etcd == nil {
				continue
			}
			port := DefaultPort
			if c.Etcd.Port.Set() {
				port = c.Etcd.Port.V
			}
			return Masters{Cluster: cluster, Port: port}, true
		}
	}
	return Masters{}, false
}

// Replace replaces master node's etcd member (see Replace) through the other masters' client
// endpoints, with the peer URL its config drive gives it. It does nothing for a node that is
// not a master of the cluster.
func (m Masters) Replace(ctx context.Context, node string) error {
	var self *model.Node
	var endpoints []string
	for _, n := range m.Cluster.RoleNodes(model.Masters) {
		if n.Name.V == node {
			self = n
			continue
		}
		endpoints = append(endpoints, "http://"+m.resolve(n))
	}
	if self == nil {
		return nil
	}
	p, err := netip.ParsePrefix(self.LAN.IP.V)
	if err != nil {
		return fmt.Errorf("replacing etcd member %q: lan.ip %q: %w", node, self.LAN.IP.V, err)
	}
	client := m.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return Replace(ctx, client, endpoints, node, cloudconfig.EtcdPeerURL(p.Addr().String()))
}

func (m Masters) resolve(n *model.Node) string {
	if m.Resolve != nil {
		return m.Resolve(n, m.Port)
	}
	p, err := netip.ParsePrefix(n.LAN.IP.V)
	if err != nil {
		return n.LAN.IP.V
	}
	return netip.AddrPortFrom(p.Addr(), uint16(m.Port)).String()
}

// ReplaceIfMaster replaces node's member when node is a master (role), and does nothing for
// the other roles, which run no etcd: what a rollout does before a node joins the cluster.
func (m Masters) ReplaceIfMaster(ctx context.Context, role model.Role, node string) error {
	if role != model.Masters {
		return nil
	}
	return m.Replace(ctx, node)
}
