package imagepipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/specrun"
)

// ImageDiff is how an image differs between two builds.
type ImageDiff struct {
	Variant  string
	Base     artifacts.Manifest
	Head     artifacts.Manifest
	Packages pkgdiff.Changes
	Files    pkgdiff.FileChanges
}

// Markdown renders the difference for a check run, within limit bytes
// (zero means GitHub's 65,535).
func (d ImageDiff) Markdown(limit int) string {
	if limit <= 0 {
		limit = pkgdiff.MaxMarkdown
	}
	head := fmt.Sprintf("#### `%s`: `%s` → `%s`\n\n", d.Variant, d.Base.ID.Short(), d.Head.ID.Short())
	if d.Base.ID == d.Head.ID {
		return head + "The image is the same build on both sides.\n"
	}
	return head + pkgdiff.Markdown(d.Packages, d.Files, limit-len(head))
}

// Diff builds and publishes the image name at base and at head (each only
// if the store does not hold it yet) and compares their packages and files.
func (p *Pipeline) Diff(ctx context.Context, base, head plan.Snapshot, name string) (ImageDiff, error) {
	var ms [2]artifacts.Manifest
	var files [2][]pkgdiff.FileEntry
	for i, snap := range []plan.Snapshot{base, head} {
		outcomes, err := p.Run(ctx, snap, []string{name})
		if err != nil {
			return ImageDiff{}, fmt.Errorf("%s: %w", snap.Rev, err)
		}
		last := outcomes[len(outcomes)-1]
		if last.Manifest == nil {
			return ImageDiff{}, fmt.Errorf("%s: image %q was not published", snap.Rev, name)
		}
		ms[i] = *last.Manifest
		f, err := p.Store.Files(ms[i].ID)
		if err != nil {
			return ImageDiff{}, err
		}
		files[i] = f
	}
	return ImageDiff{
		Variant:  name,
		Base:     ms[0],
		Head:     ms[1],
		Packages: pkgdiff.Diff(ms[0].Packages, ms[1].Packages),
		Files:    pkgdiff.DiffFiles(files[0], files[1]),
	}, nil
}

// Test runs the specs of a built image and returns the report; nil when the
// image has no spec. A failing check is in the report, not an error.
func Test(ctx context.Context, b *imagebuild.Builder, repo *model.Repo, r imagebuild.Result) (*specrun.Report, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	ctr, err := b.Buildah.Open(ctx, r.Tag)
	if err != nil {
		return nil, err
	}
	defer ctr.Close(ctx)
	report, err := runSpecs(ctx, repo, r.Build.Image, ctr)
	if report != nil && report.Failed() {
		return report, nil
	}
	return report, err
}

// UsedIDs returns the ids of the images that the fleet's clusters run, for
// garbage collection to keep.
func UsedIDs(repo *model.Repo) ([]imageid.ID, error) {
	r := imageid.NewResolver(repo)
	var ids []imageid.ID
	var errs []string
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			b, err := r.Resolve(n.Image.V)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			if !slices.Contains(ids, b.ID) {
				ids = append(ids, b.ID)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	slices.Sort(ids)
	return ids, nil
}
