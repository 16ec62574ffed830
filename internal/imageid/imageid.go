// Package imageid computes content-addressed image ids: a SHA-256 over an image folder's files
// (path, mode, content digest), its merged build arguments and its parent's id. Same inputs,
// same id; an image whose id did not change is never rebuilt, and a change to a parent changes
// the id of every image built on it.
package imageid

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// ErrCycle is returned for an image that is, through its parents, built on itself.
var ErrCycle = errors.New("image is its own ancestor")

// ID is an image id: 64 lowercase hex digits.
type ID string

// Short is the first 12 digits, for people.
func (id ID) Short() string {
	if len(id) > 12 {
		return string(id[:12])
	}
	return string(id)
}

// Build is one image to build: a variant resolved to its folder, arguments and parent.
type Build struct {
	// Variant is the variant's name; Image the folder it builds.
	Variant string
	Image   string
	ID      ID
	// Parent is the id of the image this one is built on; empty for a root image.
	Parent       ID
	ParentImage  string
	BuildArgs    map[string]string
	Bootstrapped bool
}

// Resolver computes ids of a repository's variants, remembering what it computed.
type Resolver struct {
	repo   *model.Repo
	memo   map[string]*Build
	active map[string]bool
}

// NewResolver returns a resolver over repo.
func NewResolver(repo *model.Repo) *Resolver {
	return &Resolver{repo: repo, memo: map[string]*Build{}, active: map[string]bool{}}
}

// Resolve returns the build of the named variant (a declared variant or an image folder).
// It fails for an unknown variant or image, an unknown parent, and a parent cycle.
func (r *Resolver) Resolve(variant string) (*Build, error) {
	if b, ok := r.memo[variant]; ok {
		return b, nil
	}
	if r.active[variant] {
		return nil, fmt.Errorf("image %q: %w", variant, ErrCycle)
	}
	r.active[variant] = true
	defer delete(r.active, variant)

	v := r.repo.Variant(variant)
	if v == nil {
		return nil, fmt.Errorf("no image or image variant %q", variant)
	}
	img := r.repo.Image(v.Image.V)
	if img == nil {
		return nil, fmt.Errorf("image variant %q builds image %q, which is not a folder under images/", variant, v.Image.V)
	}
	b := &Build{Variant: variant, Image: img.Name, BuildArgs: map[string]string{}, Bootstrapped: img.Bootstrap != nil}
	for _, a := range img.BuildArgs {
		b.BuildArgs[a.Key.V] = a.Value.V
	}
	for _, a := range v.BuildArgs {
		b.BuildArgs[a.Key.V] = a.Value.V
	}
	if img.Parent.V != "" {
		// A child is built on its parent's own variant, not on the child's arguments.
		parent, err := r.Resolve(img.Parent.V)
		if err != nil {
			return nil, fmt.Errorf("parent of image %q: %w", img.Name, err)
		}
		b.Parent, b.ParentImage = parent.ID, parent.Variant
	}
	b.ID = compute(img, b.BuildArgs, b.Parent)
	r.memo[variant] = b
	return b, nil
}

// compute hashes the inputs with every field length-prefixed, so no two inputs collide by
// shifting text from one field to the next.
func compute(img *model.Image, args map[string]string, parent ID) ID {
	h := sha256.New()
	field := func(w io.Writer, tag, s string) { fmt.Fprintf(w, "%s %d:%s\n", tag, len(s), s) }
	field(h, "version", "cluster-as-code image v1")
	for _, f := range img.Files {
		field(h, "file", f.Path)
		fmt.Fprintf(h, "mode %o digest %x\n", f.Mode, f.Digest)
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field(h, "arg", k)
		field(h, "value", args[k])
	}
	field(h, "parent", string(parent))
	return ID(hex.EncodeToString(h.Sum(nil)))
}

// Order returns builds parents first, and otherwise by variant name, so that a builder can
// take them in order and a reader sees a stable list.
func Order(builds []*Build) []*Build {
	byID := map[ID]*Build{}
	for _, b := range builds {
		byID[b.ID] = b
	}
	depth := func(b *Build) int {
		d := 0
		for p := b.Parent; p != ""; d++ {
			pb, ok := byID[p]
			if !ok {
				break
			}
			p = pb.Parent
		}
		return d
	}
	out := slices.Clone(builds)
	slices.SortStableFunc(out, func(a, b *Build) int {
		if da, db := depth(a), depth(b); da != db {
			return da - db
		}
		return strings.Compare(a.Variant, b.Variant)
	})
	return out
}
