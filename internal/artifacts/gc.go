package artifacts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
)

// GCPolicy says which images GC keeps; it removes every other one.
type GCPolicy struct {
	// Keep are ids to keep whatever their age: those some cluster runs or is about to run,
	// which the caller computes. Ids the store does not hold are ignored.
	Keep []imageid.ID
	// KeepLast is how many of the newest builds of each variant to keep, by Created, so
	// that a variant can be rolled back. Zero means 1: the newest build of every variant is
	// never collected. A negative number keeps none for being recent.
	KeepLast int
	// MinAge keeps every image created less than this long ago, such as builds of pull
	// requests not merged yet. Zero keeps none for being young.
	MinAge time.Duration
	// KeepParents also keeps the parent, and its parent, of every image kept. Zero does
	// not: a child's artifacts are complete images that deploy without the parent's, and a
	// child is built FROM its parent's container image, not from these artifacts.
	KeepParents bool
	// DryRun makes GC report what it would remove and remove nothing.
	DryRun bool
}

// GC removes the images the policy does not keep and returns their ids, sorted. Builds are
// grouped by variant, not by image name, for KeepLast: variants of one image (other build
// arguments) are built and rolled back independently. If any manifest cannot be read, GC
// removes nothing. Each image directory disappears whole: it is renamed out of place before
// its files are deleted. On an error midway, removed lists what was removed until then.
func (s *Store) GC(ctx context.Context, p GCPolicy) (removed []imageid.ID, err error) {
	all, err := s.List()
	if err != nil {
		return nil, fmt.Errorf("collecting artifacts: %w", err)
	}
	keep := p.keep(all, time.Now())
	for _, m := range all {
		if !keep[m.ID] {
			removed = append(removed, m.ID)
		}
	}
	slices.Sort(removed)
	if p.DryRun {
		return removed, nil
	}
	for i, id := range removed {
		if err := ctx.Err(); err != nil {
			return removed[:i], fmt.Errorf("collecting artifacts: %w", err)
		}
		if err := s.remove(id); err != nil {
			return removed[:i], fmt.Errorf("collecting artifacts: image %s: %w", id.Short(), err)
		}
	}
	return removed, nil
}

// keep is the set of ids the policy keeps among the images all.
func (p GCPolicy) keep(all []Manifest, now time.Time) map[imageid.ID]bool {
	keep := map[imageid.ID]bool{}
	for _, id := range p.Keep {
		keep[id] = true
	}
	last := p.KeepLast
	if last == 0 {
		last = 1
	}
	byVariant := map[string][]Manifest{}
	for _, m := range all {
		byVariant[m.Variant] = append(byVariant[m.Variant], m)
		if p.MinAge > 0 && now.Sub(m.Created) < p.MinAge {
			keep[m.ID] = true
		}
	}
	for _, builds := range byVariant {
		slices.SortFunc(builds, func(a, b Manifest) int {
			return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID))
		})
		for _, m := range builds[:max(0, min(last, len(builds)))] {
			keep[m.ID] = true
		}
	}
	if p.KeepParents {
		parent := map[imageid.ID]imageid.ID{}
		for _, m := range all {
			parent[m.ID] = m.Parent
		}
		for id := range keep {
			// Bounded by the number of images, in case of a (corrupt) parent cycle.
			for p, n := parent[id], 0; p != "" && n < len(all); p, n = parent[p], n+1 {
				keep[p] = true
			}
		}
	}
	return keep
}

// remove renames an image directory into the staging area and deletes it there.
func (s *Store) remove(id imageid.ID) error {
	trash, err := os.MkdirTemp(filepath.Join(s.root, stagingDir), "gc-"+id.Short()+"-*")
	if err != nil {
		return err
	}
	dst := filepath.Join(trash, string(id))
	s.mu.Lock()
	err = os.Rename(filepath.Join(s.root, string(id)), dst)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(trash)
		return err
	}
	return os.RemoveAll(trash)
}
