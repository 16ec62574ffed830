// Package rollout executes one cluster's part of a deployment plan: its waves in order, the
// nodes of a wave in parallel, the role's health gates after each node and the cluster's after
// each wave. It halts at the first failed node or gate — no further node is touched — and says
// which node, which step, and what Ironic or the gate answered.
//
// Every step is journaled in the store before and after its Ironic call, so a rollout cut off
// anywhere (kill -9) resumes: what is recorded on Ironic decides whether a node is done, in
// flight or still to do (see package ironic). Running the same rollout again changes nothing.
//
// The interpreter talks to infrastructure only through its Provisioner and Gates; a dry run is
// the same interpreter over a recording provisioner.
package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

// SpecSchema versions the Spec's JSON, which the journal stores.
const SpecSchema = "cluster-as-code/rollout/v1"

// Spec is what a rollout does: the cluster's waves from the plan, and for every node they name
// what it is given, images resolved to the URLs Ironic fetches. It holds no secret: config
// drives are built from the head repository when a node is triggered.
type Spec struct {
	Schema  string        `json:"schema"`
	Repo    string        `json:"repo"`
	Cluster string        `json:"cluster"`
	Source  string        `json:"source"`
	Base    plan.Revision `json:"base"`
	Head    plan.Revision `json:"head"`
	// Tree is a digest of the head repository's fleet files: a resumed rollout must be given
	// the same head it started with.
	Tree  string      `json:"tree"`
	Waves []plan.Wave `json:"waves"`
	Nodes []Node      `json:"nodes"`
}

// Node is one node a wave names.
type Node struct {
	Name       string      `json:"name"`
	Role       model.Role  `json:"role"`
	Action     plan.Action `json:"action"`
	Reasons    []string    `json:"reasons"`
	IronicID   string      `json:"ironic_id"`
	ImageID    string      `json:"image_id,omitempty"`
	ConfigHash string      `json:"config_hash,omitempty"`
	// BaseImageID and BaseConfigHash are what the node runs now, by the plan's base.
	BaseImageID    string   `json:"base_image_id,omitempty"`
	BaseConfigHash string   `json:"base_config_hash,omitempty"`
	MACs           []string `json:"macs"`
	// Image is what Ironic deploys; empty for a decommission.
	Image ironic.Image `json:"image"`
}

// ImageResolver finds the artifact Ironic deploys for an image id.
type ImageResolver interface {
	Resolve(ctx context.Context, imageID string) (ironic.Image, error)
}

// NewSpec builds the rollout of one cluster of p. head is the repository p's head was planned
// from; Source says who asks ("cli", "pull/12", "push").
func NewSpec(ctx context.Context, p *plan.Plan, cluster string, head *model.Repo, repo, source string, images ImageResolver) (Spec, error) {
	if !p.Valid {
		return Spec{}, fmt.Errorf("the plan of %s has validation errors; fix them before applying", p.Head.Rev)
	}
	i := slices.IndexFunc(p.Clusters, func(c plan.ClusterPlan) bool { return c.Name == cluster })
	if i < 0 {
		var names []string
		for _, c := range p.Clusters {
			names = append(names, c.Name)
		}
		return Spec{}, fmt.Errorf("cluster %q is not in the plan (its clusters: %s)", cluster, strings.Join(names, ", "))
	}
	cp := p.Clusters[i]
	s := Spec{
		Schema: SpecSchema, Repo: repo, Cluster: cluster, Source: source,
		Base: p.Base, Head: p.Head, Tree: TreeDigest(head), Waves: cp.Waves, Nodes: []Node{},
	}
	if s.Waves == nil {
		s.Waves = []plan.Wave{}
	}
	inWave := map[string]bool{}
	for _, w := range cp.Waves {
		for _, n := range w.Nodes {
			inWave[n] = true
		}
	}
	resolved := map[string]ironic.Image{}
	failed := map[string]error{}   // image id → why it cannot be resolved
	users := map[string][]string{} // image id → the nodes that need it, when it failed
	var order []string             // failed image ids, in the order first met
	for _, a := range cp.Nodes {
		if !inWave[a.Name] {
			continue
		}
		n := Node{Name: a.Name, Role: a.Role, Action: a.Action, Reasons: a.Reasons, IronicID: a.IronicID,
			ImageID: a.ImageID, ConfigHash: a.ConfigHash, BaseImageID: a.BaseImageID, BaseConfigHash: a.BaseConfigHash, MACs: []string{}}
		if srv := head.Server(a.Name); srv != nil {
			for _, nic := range srv.Network {
				n.MACs = append(n.MACs, strings.ToLower(nic.MAC.V))
			}
		}
		if a.Action != plan.Decommission {
			if _, bad := failed[a.ImageID]; bad {
				users[a.ImageID] = append(users[a.ImageID], a.Name)
				continue
			}
			img, ok := resolved[a.ImageID]
			if !ok {
				var err error
				if img, err = images.Resolve(ctx, a.ImageID); err != nil {
					failed[a.ImageID] = fmt.Errorf("image %s (%.12s): %w", a.Image, a.ImageID, err)
					users[a.ImageID] = []string{a.Name}
					order = append(order, a.ImageID)
					continue
				}
				resolved[a.ImageID] = img
			}
			n.Image = img
		}
		s.Nodes = append(s.Nodes, n)
	}
	if len(order) > 0 {
		var errs []error
		for _, id := range order {
			errs = append(errs, fmt.Errorf("%w (needed by %s)", failed[id], strings.Join(users[id], ", ")))
		}
		return Spec{}, errors.Join(errs...)
	}
	return s, nil
}

// Node returns the node of that name.
func (s Spec) Node(name string) (Node, bool) {
	i := slices.IndexFunc(s.Nodes, func(n Node) bool { return n.Name == name })
	if i < 0 {
		return Node{}, false
	}
	return s.Nodes[i], true
}

// Changes counts the nodes the rollout acts on.
func (s Spec) Changes() int { return len(s.Nodes) }

// Marshal encodes the spec for the journal.
func (s Spec) Marshal() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the rollout of %s: %w", s.Cluster, err)
	}
	return b, nil
}

// UnmarshalSpec decodes a journaled spec, refusing a schema it does not know.
func UnmarshalSpec(b []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("decoding a journaled rollout: %w", err)
	}
	if s.Schema != SpecSchema {
		return Spec{}, fmt.Errorf("a journaled rollout has schema %q; this bot reads %q", s.Schema, SpecSchema)
	}
	return s, nil
}

// TreeDigest is a SHA-256 over the repository's fleet files (paths, modes, contents).
func TreeDigest(r *model.Repo) string {
	h := sha256.New()
	if r != nil {
		for _, f := range r.Files {
			fmt.Fprintf(h, "%s\x00%o\x00%x\n", f.Path, f.Mode, f.Digest)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
