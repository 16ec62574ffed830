package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// ImageAction says what happens to one image variant.
type ImageAction struct {
	Variant string `json:"variant"`
	Image   string `json:"image"`
	Action  string `json:"action"`
	ID      string `json:"id,omitempty"`
	BaseID  string `json:"base_id,omitempty"`
	// Parent is the variant this one is built on, and ParentID its id.
	Parent    string            `json:"parent,omitempty"`
	ParentID  string            `json:"parent_id,omitempty"`
	BuildArgs map[string]string `json:"build_args,omitempty"`
	Reasons   []string          `json:"reasons"`
	// Aliases are other variant names with the same id: one build serves them all.
	Aliases []string `json:"aliases,omitempty"`
	// UsedBy lists "cluster/role" for every role that runs this variant.
	UsedBy []string `json:"used_by"`
}

// The image actions.
const (
	// ImageBuild: the id is new, so the image must be built (and tested).
	ImageBuild = "build"
	// ImageRemoved: the variant is gone from head; its artifacts may be collected.
	ImageRemoved = "removed"
)

// resolved is every variant of a repository that resolves, with the folder it builds.
type resolved struct {
	builds map[string]*imageid.Build
	images map[string]*model.Image
}

// resolveImages resolves the variants a fleet needs built: every variant a node runs, the
// parents they are built on, and the own variant of every image folder that no node's variant
// builds (so a new or unused image is still built and tested). Variants that do not resolve
// are left out: validation reports them.
func resolveImages(repo *model.Repo) resolved {
	out := resolved{builds: map[string]*imageid.Build{}, images: map[string]*model.Image{}}
	if repo == nil {
		return out
	}
	r := imageid.NewResolver(repo)
	add := func(name string) *imageid.Build {
		b, err := r.Resolve(name)
		if err != nil {
			return nil
		}
		for cur := b; cur != nil; {
			if _, done := out.builds[cur.Variant]; done {
				break
			}
			out.builds[cur.Variant] = cur
			out.images[cur.Variant] = repo.Image(cur.Image)
			if cur.ParentImage == "" {
				break
			}
			cur, _ = r.Resolve(cur.ParentImage)
		}
		return b
	}
	built := map[string]bool{}
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			if b := add(n.Image.V); b != nil {
				built[b.Image] = true
			}
		}
	}
	for _, img := range repo.Images {
		if !built[img.Name] {
			add(img.Name)
		}
	}
	return out
}

// imageActions lists the variants of head whose id base did not have, parents first, and the
// variants base had that head has not.
func imageActions(base, head resolved, headRepo *model.Repo) []ImageAction {
	baseIDs := map[imageid.ID]bool{}
	for _, b := range base.builds {
		baseIDs[b.ID] = true
	}
	usedBy := usage(headRepo)
	// Variants with equal ids are one build. It is named after the image folder when that is
	// one of them, else after the first name.
	byID := map[imageid.ID][]string{}
	for _, name := range slices.Sorted(maps.Keys(head.builds)) {
		if b := head.builds[name]; !baseIDs[b.ID] {
			byID[b.ID] = append(byID[b.ID], name)
		}
	}
	var changed []*imageid.Build
	aliases := map[imageid.ID][]string{}
	for id, names := range byID {
		primary := names[0]
		if i := slices.Index(names, head.builds[primary].Image); i >= 0 {
			primary = names[i]
		}
		changed = append(changed, head.builds[primary])
		aliases[id] = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == primary })
	}
	var out []ImageAction
	for _, b := range imageid.Order(changed) {
		var used []string
		for _, n := range append([]string{b.Variant}, aliases[b.ID]...) {
			used = append(used, usedBy[n]...)
		}
		slices.Sort(used)
		a := ImageAction{
			Variant:   b.Variant,
			Image:     b.Image,
			Action:    ImageBuild,
			ID:        string(b.ID),
			Parent:    b.ParentImage,
			ParentID:  string(b.Parent),
			BuildArgs: b.BuildArgs,
			UsedBy:    slices.Compact(used),
			Aliases:   aliases[b.ID],
		}
		if len(a.BuildArgs) == 0 {
			a.BuildArgs = nil
		}
		if a.UsedBy == nil {
			a.UsedBy = []string{}
		}
		if len(a.Aliases) == 0 {
			a.Aliases = nil
		}
		if old, ok := base.builds[b.Variant]; ok {
			a.BaseID = string(old.ID)
			a.Reasons = imageReasons(old, b, base.images[b.Variant], head.images[b.Variant])
		} else {
			a.Reasons = []string{"new image"}
		}
		out = append(out, a)
	}
	for _, name := range slices.Sorted(maps.Keys(base.builds)) {
		if _, ok := head.builds[name]; ok {
			continue
		}
		old := base.builds[name]
		out = append(out, ImageAction{Variant: name, Image: old.Image, Action: ImageRemoved, BaseID: string(old.ID),
			Reasons: []string{"no longer defined"}, UsedBy: []string{}})
	}
	return out
}

// usage maps each variant to the cluster roles that run it, as "cluster/role".
func usage(repo *model.Repo) map[string][]string {
	out := map[string][]string{}
	if repo == nil {
		return out
	}
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			key := c.Name.V + "/" + string(n.Role)
			if !slices.Contains(out[n.Image.V], key) {
				out[n.Image.V] = append(out[n.Image.V], key)
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// imageReasons says why a variant's id changed: its files, its arguments, or its parent.
func imageReasons(old, cur *imageid.Build, oldImg, curImg *model.Image) []string {
	var reasons []string
	if oldImg != nil && curImg != nil {
		if files := changedFiles(oldImg.Files, curImg.Files); len(files) > 0 {
			reasons = append(reasons, "files changed: "+summarize(files, 5))
		}
	}
	var args []string
	for _, k := range slices.Sorted(maps.Keys(cur.BuildArgs)) {
		if ov, ok := old.BuildArgs[k]; !ok {
			args = append(args, fmt.Sprintf("%s=%q added", k, cur.BuildArgs[k]))
		} else if ov != cur.BuildArgs[k] {
			args = append(args, fmt.Sprintf("%s %q → %q", k, ov, cur.BuildArgs[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(old.BuildArgs)) {
		if _, ok := cur.BuildArgs[k]; !ok {
			args = append(args, k+" removed")
		}
	}
	if len(args) > 0 {
		reasons = append(reasons, "build args: "+strings.Join(args, ", "))
	}
	if old.Parent != cur.Parent {
		reasons = append(reasons, fmt.Sprintf("parent %s changed (%s → %s)", cur.ParentImage, old.Parent.Short(), cur.Parent.Short()))
	}
	if old.Image != cur.Image {
		reasons = append(reasons, fmt.Sprintf("now builds image %s instead of %s", cur.Image, old.Image))
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "image definition changed")
	}
	return reasons
}

// changedFiles lists the paths added, removed or changed between two sorted file lists.
func changedFiles(old, cur []model.File) []string {
	byPath := map[string]model.File{}
	for _, f := range old {
		byPath[f.Path] = f
	}
	var out []string
	for _, f := range cur {
		o, ok := byPath[f.Path]
		delete(byPath, f.Path)
		switch {
		case !ok:
			out = append(out, f.Path+" (new)")
		case o.Digest != f.Digest || o.Mode != f.Mode:
			out = append(out, f.Path)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		out = append(out, p+" (removed)")
	}
	slices.Sort(out)
	return out
}

// summarize joins up to n items and says how many more there are.
func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
