package model

import "gopkg.in/yaml.v3"

// clustersFile is what one file under clusters/ holds.
type clustersFile struct {
	variants []*Variant
	clusters []*Cluster
}

func (d *decoder) clustersFile(root *yaml.Node) clustersFile {
	var out clustersFile
	// Nodes refer to variants through aliases; remember which node is which variant.
	byNode := map[*yaml.Node]string{}
	for k, v := range d.pairs(root, "clusters file") {
		switch k.Value {
		case "images":
			for vk, vv := range d.pairs(v, "images") {
				variant := d.variant(vk, vv)
				byNode[resolve(vv)] = variant.Name.V
				out.variants = append(out.variants, variant)
			}
		case "clusters":
			for ck, cv := range d.pairs(v, "clusters") {
				out.clusters = append(out.clusters, d.cluster(ck, cv, byNode))
			}
		default:
			d.unknown(k, "clusters file", "images", "clusters")
		}
	}
	return out
}

func (d *decoder) variant(name, n *yaml.Node) *Variant {
	v := &Variant{Name: Value[string]{V: name.Value, Pos: d.pos(name)}, Pos: d.pos(n)}
	what := "image variant " + name.Value
	for k, val := range d.pairs(n, what) {
		switch k.Value {
		case "image":
			v.Image = d.str(val, "image")
		case "build_args":
			v.BuildArgs = d.args(val, "build_args")
		default:
			d.unknown(k, what, "image", "build_args")
		}
	}
	d.need(n, what, "image", v.Image.Set())
	return v
}

func (d *decoder) cluster(name, n *yaml.Node, variants map[*yaml.Node]string) *Cluster {
	c := &Cluster{Name: Value[string]{V: name.Value, Pos: d.pos(name)}, Pos: d.pos(n)}
	what := "cluster " + name.Value
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "dns":
			c.DNS = d.dns(v)
		case "etcd":
			c.Etcd = d.etcd(v)
		case "marathon":
			c.Marathon = d.marathon(v)
		case "rollout":
			c.Rollout = d.rollout(v)
		case string(Masters), string(DNSServers), string(Agents):
			role := Role(k.Value)
			for nk, nv := range d.pairs(v, k.Value) {
				c.Nodes = append(c.Nodes, d.node(nk, nv, role, variants))
			}
		default:
			d.unknown(k, what, "dns", "etcd", "marathon", "rollout", string(Masters), string(DNSServers), string(Agents))
		}
	}
	d.need(n, what, "dns", c.DNS.Pos.Line != 0)
	return c
}

func (d *decoder) dns(n *yaml.Node) DNS {
	out := DNS{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "dns") {
		switch k.Value {
		case "nameservers":
			out.Nameservers = d.strs(v, "nameservers")
		case "data_domain":
			out.DataDomain = d.str(v, "data_domain")
		default:
			d.unknown(k, "dns", "nameservers", "data_domain")
		}
	}
	d.need(n, "dns", "nameservers", len(out.Nameservers) > 0)
	d.need(n, "dns", "data_domain", out.DataDomain.Set())
	return out
}

func (d *decoder) etcd(n *yaml.Node) Etcd {
	out := Etcd{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "etcd") {
		switch k.Value {
		case "token":
			out.Token = d.str(v, "etcd token")
		default:
			d.unknown(k, "etcd", "token")
		}
	}
	return out
}

func (d *decoder) marathon(n *yaml.Node) Marathon {
	out := Marathon{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "marathon") {
		switch k.Value {
		case "username":
			out.Username = d.str(v, "marathon username")
		case "password":
			out.Password = d.secret(v, "marathon password")
		default:
			d.unknown(k, "marathon", "username", "password")
		}
	}
	return out
}

func (d *decoder) rollout(n *yaml.Node) Rollout {
	out := Rollout{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "rollout") {
		switch k.Value {
		case "order":
			out.Order = d.strs(v, "rollout order")
		case "max_down":
			for rk, rv := range d.pairs(v, "max_down") {
				out.MaxDown = append(out.MaxDown, RoleLimit{
					Role:  Value[string]{V: rk.Value, Pos: d.pos(rk)},
					Limit: d.integer(rv, "max_down "+rk.Value),
				})
			}
		default:
			d.unknown(k, "rollout", "order", "max_down")
		}
	}
	return out
}

func (d *decoder) node(name, n *yaml.Node, role Role, variants map[*yaml.Node]string) *Node {
	node := &Node{Name: Value[string]{V: name.Value, Pos: d.pos(name)}, Role: role, Pos: d.pos(n)}
	what := "node " + name.Value
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "provision_id":
			node.ProvisionID = d.integer(v, "provision_id")
		case "lan":
			node.LAN = d.lan(v)
		case "ironic_id":
			node.IronicID = d.str(v, "ironic_id")
		case "flavor":
			node.Flavor = d.str(v, "flavor")
		case "image":
			if vn, ok := variants[resolve(v)]; ok {
				node.Image = Value[string]{V: vn, Pos: d.pos(v)}
			} else if r := resolve(v); r.Kind != yaml.ScalarNode {
				d.errorf(v, RuleBadValue, "image must be an alias of an image variant (*name), a variant's name or an image folder, not %s", kindName(r))
				node.Image = Value[string]{Pos: d.pos(v)}
			} else {
				node.Image = d.str(v, "image")
			}
		default:
			d.unknown(k, what, "provision_id", "lan", "ironic_id", "flavor", "image")
		}
	}
	d.need(n, what, "provision_id", node.ProvisionID.Set())
	d.need(n, what, "lan", node.LAN.Pos.Line != 0)
	d.need(n, what, "ironic_id", node.IronicID.Set())
	d.need(n, what, "flavor", node.Flavor.Set())
	d.need(n, what, "image", node.Image.Set())
	return node
}

func (d *decoder) lan(n *yaml.Node) LAN {
	out := LAN{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "lan") {
		switch k.Value {
		case "mac":
			out.MAC = d.str(v, "lan mac")
		case "ip":
			out.IP = d.str(v, "lan ip")
		case "vlan":
			out.VLAN = d.integer(v, "vlan")
		case "gateway":
			out.Gateway = d.str(v, "gateway")
		default:
			d.unknown(k, "lan", "mac", "ip", "vlan", "gateway")
		}
	}
	d.need(n, "lan", "mac", out.MAC.Set())
	d.need(n, "lan", "ip", out.IP.Set())
	d.need(n, "lan", "gateway", out.Gateway.Set())
	return out
}
