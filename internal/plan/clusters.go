package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// ClusterPlan is what happens to one cluster.
type ClusterPlan struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Counts Counts `json:"counts"`
	// Waves are executed in order; the nodes of a wave go down together.
	Waves []Wave `json:"waves"`
	// Nodes lists every node of base and head: by role in rollout order, then provision id.
	Nodes []NodeAction `json:"nodes"`
}

// Cluster statuses.
const (
	ClusterNew       = "new"
	ClusterChanged   = "changed"
	ClusterUnchanged = "unchanged"
	ClusterRemoved   = "removed"
)

// Counts counts a cluster's node actions.
type Counts struct {
	Provision    int `json:"provision"`
	Reprovision  int `json:"reprovision"`
	Decommission int `json:"decommission"`
	Unchanged    int `json:"unchanged"`
}

// Action is what happens to a node.
type Action string

// The node actions.
const (
	// Provision: a node new to the cluster is deployed for the first time.
	Provision Action = "provision"
	// Reprovision: the node is re-imaged because its image or machine configuration changed.
	Reprovision Action = "reprovision"
	// Decommission: the node left the cluster; it is torn down and returned to the pool.
	Decommission Action = "decommission"
	// Unchanged: nothing happens.
	Unchanged Action = "unchanged"
)

// NodeAction is what happens to one node, and why.
type NodeAction struct {
	Name        string     `json:"name"`
	Role        model.Role `json:"role"`
	Action      Action     `json:"action"`
	Reasons     []string   `json:"reasons"`
	IronicID    string     `json:"ironic_id"`
	ProvisionID int        `json:"provision_id"`
	IP          string     `json:"ip"`
	Image       string     `json:"image,omitempty"`
	ImageID     string     `json:"image_id,omitempty"`
	BaseImageID string     `json:"base_image_id,omitempty"`
	// ConfigHash identifies the machine configuration the node is given (its config drive's
	// inputs); BaseConfigHash the one it has.
	ConfigHash     string `json:"config_hash,omitempty"`
	BaseConfigHash string `json:"base_config_hash,omitempty"`
	// Wave is the number of the wave the node is in; zero when unchanged.
	Wave int `json:"wave,omitempty"`
}

// Wave is a set of nodes of one role that are acted on together.
type Wave struct {
	Number int        `json:"number"`
	Role   model.Role `json:"role"`
	Action Action     `json:"action"`
	Nodes  []string   `json:"nodes"`
	// Down is how many serving nodes the wave takes down at once: zero for new nodes.
	Down int `json:"down"`
}

// clusterPlans pairs the clusters of base and head by name, in name order.
func clusterPlans(base, head *model.Repo, baseImages, headImages resolved) []ClusterPlan {
	byName := func(r *model.Repo) map[string]*model.Cluster {
		m := map[string]*model.Cluster{}
		if r != nil {
			for _, c := range r.Clusters {
				if _, dup := m[c.Name.V]; !dup {
					m[c.Name.V] = c
				}
			}
		}
		return m
	}
	b, h := byName(base), byName(head)
	var names []string
	for n := range b {
		names = append(names, n)
	}
	for n := range h {
		if _, ok := b[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]ClusterPlan, 0, len(names))
	for _, name := range names {
		out = append(out, clusterPlan(name, b[name], h[name], baseImages, headImages))
	}
	return out
}

// side is one cluster's nodes on one side of the plan, with what each is given.
type side struct {
	nodes   map[string]*model.Node
	config  map[string][]setting
	imageID map[string]imageid.ID
}

func newSide(c *model.Cluster, images resolved) side {
	s := side{nodes: map[string]*model.Node{}, config: map[string][]setting{}, imageID: map[string]imageid.ID{}}
	if c == nil {
		return s
	}
	ci := newClusterInputs(c)
	for _, n := range c.Nodes {
		if _, dup := s.nodes[n.Name.V]; dup {
			continue
		}
		s.nodes[n.Name.V] = n
		s.config[n.Name.V] = machineConfig(ci, n)
		if b, ok := images.builds[n.Image.V]; ok {
			s.imageID[n.Name.V] = b.ID
		}
	}
	return s
}

func clusterPlan(name string, base, head *model.Cluster, baseImages, headImages resolved) ClusterPlan {
	cp := ClusterPlan{Name: name, Waves: []Wave{}, Nodes: []NodeAction{}}
	b, h := newSide(base, baseImages), newSide(head, headImages)
	own := map[string]bool{} // nodes that change for a reason of their own
	for nodeName, n := range h.nodes {
		a := nodeAction(n, h.imageID[nodeName], configHash(h.config[nodeName]))
		if old, ok := b.nodes[nodeName]; ok {
			a.BaseImageID = string(b.imageID[nodeName])
			a.BaseConfigHash = configHash(b.config[nodeName])
			a.Reasons, own[nodeName] = nodeReasons(old, n, b, h)
			if len(a.Reasons) > 0 {
				a.Action = Reprovision
			}
		} else {
			a.Action = Provision
			a.Reasons = []string{"new node"}
		}
		cp.Nodes = append(cp.Nodes, a)
	}
	for nodeName, n := range b.nodes {
		if _, ok := h.nodes[nodeName]; ok {
			continue
		}
		a := nodeAction(n, "", "")
		a.Action = Decommission
		a.BaseImageID = string(b.imageID[nodeName])
		a.BaseConfigHash = configHash(b.config[nodeName])
		a.Reasons = []string{"removed from the cluster"}
		if head == nil {
			a.Reasons = []string{"cluster removed"}
		}
		cp.Nodes = append(cp.Nodes, a)
	}
	order := rolloutOrder(head, base)
	rank := func(r model.Role) int { return slices.Index(order, r) }
	slices.SortFunc(cp.Nodes, func(x, y NodeAction) int {
		return cmp.Or(cmp.Compare(rank(x.Role), rank(y.Role)), cmp.Compare(x.ProvisionID, y.ProvisionID), strings.Compare(x.Name, y.Name))
	})
	for _, a := range cp.Nodes {
		switch a.Action {
		case Provision:
			cp.Counts.Provision++
		case Reprovision:
			cp.Counts.Reprovision++
		case Decommission:
			cp.Counts.Decommission++
		default:
			cp.Counts.Unchanged++
		}
	}
	cp.Waves = waves(cp.Nodes, order, maxDown(head, base), own)
	index := make(map[string]int, len(cp.Nodes))
	for i, a := range cp.Nodes {
		index[a.Name] = i
	}
	for _, w := range cp.Waves {
		for _, n := range w.Nodes {
			cp.Nodes[index[n]].Wave = w.Number
		}
	}
	switch {
	case base == nil:
		cp.Status = ClusterNew
	case head == nil:
		cp.Status = ClusterRemoved
	case len(cp.Waves) > 0:
		cp.Status = ClusterChanged
	default:
		cp.Status = ClusterUnchanged
	}
	return cp
}

func nodeAction(n *model.Node, image imageid.ID, config string) NodeAction {
	return NodeAction{
		Name:        n.Name.V,
		Role:        n.Role,
		Action:      Unchanged,
		Reasons:     []string{},
		IronicID:    n.IronicID.V,
		ProvisionID: n.ProvisionID.V,
		IP:          n.LAN.IP.V,
		Image:       n.Image.V,
		ImageID:     string(image),
		ConfigHash:  config,
	}
}

// nodeReasons says why a node present on both sides must be re-provisioned (none means it
// stays as it is), and whether a reason is the node's own rather than a cluster-wide setting.
func nodeReasons(old, cur *model.Node, b, h side) ([]string, bool) {
	var reasons []string
	name := cur.Name.V
	if oid, cid := b.imageID[name], h.imageID[name]; oid != cid {
		switch {
		case old.Image.V != cur.Image.V:
			reasons = append(reasons, fmt.Sprintf("image %s → %s (%s)", old.Image.V, cur.Image.V, cid.Short()))
		default:
			reasons = append(reasons, fmt.Sprintf("image %s changed (%s → %s)", cur.Image.V, oid.Short(), cid.Short()))
		}
	}
	if old.IronicID.V != cur.IronicID.V {
		reasons = append(reasons, fmt.Sprintf("ironic_id %s → %s (another machine)", old.IronicID.V, cur.IronicID.V))
	}
	config, own := configReasons(b.config[name], h.config[name])
	return append(reasons, config...), own || len(reasons) > 0
}

// rolloutOrder is the cluster's role order: the roles it names, then the others in their
// default order. Head's settings win; a removed cluster uses base's.
func rolloutOrder(head, base *model.Cluster) []model.Role {
	c := cmp.Or(head, base)
	var order []model.Role
	for _, r := range c.Rollout.Order {
		role := model.Role(r.V)
		if slices.Contains(model.Roles(), role) && !slices.Contains(order, role) {
			order = append(order, role)
		}
	}
	for _, r := range model.Roles() {
		if !slices.Contains(order, r) {
			order = append(order, r)
		}
	}
	return order
}

// maxDown returns each role's limit of nodes down at once; at least 1, default 1.
func maxDown(head, base *model.Cluster) map[model.Role]int {
	c := cmp.Or(head, base)
	limits := map[model.Role]int{}
	for _, r := range model.Roles() {
		limits[r] = 1
	}
	for _, l := range c.Rollout.MaxDown {
		if l.Limit.V >= 1 {
			limits[model.Role(l.Role.V)] = l.Limit.V
		}
	}
	return limits
}

// waves orders the work of a cluster. For each role in rollout order: first all of its new
// nodes in one wave (they serve nothing yet, and a new ensemble must come up together to form
// a quorum), then its re-provisioned nodes in batches of the role's max_down. Decommissions come
// last, once the replacements are serving, in batches of the same size. Within a role, the
// nodes in own (changed for a reason of their own: image, address, …) come before those that
// only follow a cluster-wide change, so a moved master is re-imaged before the others learn
// its new address.
func waves(nodes []NodeAction, order []model.Role, limits map[model.Role]int, own map[string]bool) []Wave {
	var out []Wave
	add := func(role model.Role, action Action, names []string, down int) {
		out = append(out, Wave{Number: len(out) + 1, Role: role, Action: action, Nodes: names, Down: down})
	}
	batches := func(role model.Role, action Action) {
		var first, rest []string
		for _, n := range nodes {
			if n.Role == role && n.Action == action {
				if own[n.Name] {
					first = append(first, n.Name)
				} else {
					rest = append(rest, n.Name)
				}
			}
		}
		names := append(first, rest...)
		for chunk := range slices.Chunk(names, limits[role]) {
			add(role, action, chunk, len(chunk))
		}
	}
	for _, role := range order {
		var fresh []string
		for _, n := range nodes {
			if n.Role == role && n.Action == Provision {
				fresh = append(fresh, n.Name)
			}
		}
		if len(fresh) > 0 {
			add(role, Provision, fresh, 0)
		}
		batches(role, Reprovision)
	}
	for _, role := range order {
		batches(role, Decommission)
	}
	return out
}
