// Package plan computes a deployment plan: a pure, deterministic function of two snapshots of a
// fleet repository (base and head). The plan says which images change and must be built, in
// dependency order, and for every cluster which nodes are provisioned, re-provisioned (and why)
// or decommissioned, in waves that obey the cluster's rollout settings. It does no I/O beyond
// reading the snapshots it is given; interpreters (dry run, Ironic rollout) consume it.
package plan

import (
	"io/fs"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// Schema names the version of the plan's JSON form. A consumer refuses a schema it does not
// know; a change that breaks consumers gets a new version.
const Schema = "cluster-as-code/plan/v1"

// Snapshot is one side of a plan: a loaded repository, the files it was loaded from (for the
// file diffs), what revision it is, and what validation found in it.
type Snapshot struct {
	// Rev is what was asked for ("main", "HEAD~1", "working tree"); Commit the resolved SHA,
	// empty when there is none.
	Rev      string
	Commit   string
	Repo     *model.Repo
	FS       fs.FS
	Findings []finding.Finding
}

// Plan is the whole deployment plan. Every slice is in a deterministic order.
type Plan struct {
	Schema string   `json:"schema"`
	Base   Revision `json:"base"`
	Head   Revision `json:"head"`
	// Valid is false when the head has validation errors; such a plan must not be applied.
	Valid    bool              `json:"valid"`
	Findings []finding.Finding `json:"findings"`
	Summary  Summary           `json:"summary"`
	// Images lists every image variant whose id changed or that is new, parents first.
	Images   []ImageAction `json:"images"`
	Clusters []ClusterPlan `json:"clusters"`
	Files    []FileChange  `json:"files"`
}

// Revision identifies a snapshot.
type Revision struct {
	Rev    string `json:"rev"`
	Commit string `json:"commit,omitempty"`
}

// Summary counts what the plan does.
type Summary struct {
	ImagesToBuild   int `json:"images_to_build"`
	ImagesRemoved   int `json:"images_removed"`
	Provision       int `json:"provision"`
	Reprovision     int `json:"reprovision"`
	Decommission    int `json:"decommission"`
	Unchanged       int `json:"unchanged"`
	ClustersChanged int `json:"clusters_changed"`
	Errors          int `json:"errors"`
	Warnings        int `json:"warnings"`
}

// Empty reports whether the plan changes nothing.
func (s Summary) Empty() bool {
	return s.ImagesToBuild == 0 && s.ImagesRemoved == 0 && s.Provision == 0 && s.Reprovision == 0 && s.Decommission == 0
}

// Compute builds the plan from base to head. It never fails: what cannot be resolved (an
// unknown image, say) is already a validation finding of head, and the plan leaves it out.
func Compute(base, head Snapshot) *Plan {
	p := &Plan{
		Schema:   Schema,
		Base:     Revision{Rev: base.Rev, Commit: base.Commit},
		Head:     Revision{Rev: head.Rev, Commit: head.Commit},
		Findings: head.Findings,
		Images:   []ImageAction{},
		Clusters: []ClusterPlan{},
	}
	if p.Findings == nil {
		p.Findings = []finding.Finding{}
	}
	p.Summary.Errors = finding.Errors(head.Findings)
	p.Summary.Warnings = len(head.Findings) - p.Summary.Errors
	p.Valid = p.Summary.Errors == 0

	baseImages, headImages := resolveImages(base.Repo), resolveImages(head.Repo)
	p.Images = imageActions(baseImages, headImages, head.Repo)
	p.Clusters = clusterPlans(base.Repo, head.Repo, baseImages, headImages)
	p.Files = fileChanges(base, head)

	for _, img := range p.Images {
		switch img.Action {
		case ImageBuild:
			p.Summary.ImagesToBuild++
		case ImageRemoved:
			p.Summary.ImagesRemoved++
		}
	}
	for _, c := range p.Clusters {
		if c.Counts.Provision+c.Counts.Reprovision+c.Counts.Decommission > 0 {
			p.Summary.ClustersChanged++
		}
		p.Summary.Provision += c.Counts.Provision
		p.Summary.Reprovision += c.Counts.Reprovision
		p.Summary.Decommission += c.Counts.Decommission
		p.Summary.Unchanged += c.Counts.Unchanged
	}
	return p
}
