package validate

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func (c *checker) images() {
	resolver := imageid.NewResolver(c.repo)
	for _, img := range c.repo.Images {
		definition := img.Pos
		if definition.Line == 0 {
			c.report(definition, model.RuleMissingField, "image %s has no image.yaml saying how it is built", img.Name)
		} else {
			c.imageParent(img, definition, resolver)
		}
		c.dockerfile(img)
		c.partitions(img)
	}
	for _, v := range c.repo.Variants {
		if img := c.repo.Image(v.Image.V); img != nil {
			c.buildArgs(img, v.BuildArgs)
		}
	}
}

// imageParent checks an image has exactly one of parent and bootstrap, and no parent cycle.
func (c *checker) imageParent(img *model.Image, definition model.Pos, resolver *imageid.Resolver) {
	switch {
	case img.Parent.V == "" && img.Bootstrap == nil:
		c.report(definition, "image-parent", "image %s has neither a parent nor a bootstrap: say what it is built on", img.Name)
	case img.Parent.V != "" && img.Bootstrap != nil:
		c.report(img.Bootstrap.Pos, "image-parent", "image %s has both a parent and a bootstrap; a root image has only a bootstrap", img.Name)
	case img.Parent.V != "" && c.repo.Image(img.Parent.V) == nil:
		c.report(img.Parent.Pos, "unknown-image", "image %s is built on %q, which is not a folder under images/", img.Name, img.Parent.V)
	case img.Parent.V != "":
		if _, err := resolver.Resolve(img.Name); errors.Is(err, imageid.ErrCycle) {
			c.report(img.Parent.Pos, "image-parent", "image %s: %v", img.Name, err)
		}
	}
	if b := img.Bootstrap; b != nil && b.Variant.Set() && !slices.Contains([]string{"extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "debootstrap", "standard"}, b.Variant.V) {
		c.report(b.Variant.Pos, model.RuleBadValue, "bootstrap variant %q of image %s is not an mmdebstrap variant (minbase, essential, important, standard, …)", b.Variant.V, img.Name)
	}
	if img.Disk.Pos.Line == 0 {
		c.report(definition, model.RuleMissingField, "image %s has no disk: say how large its root disk is (disk: {size: 4GiB})", img.Name)
	}
	c.buildArgs(img, img.BuildArgs)
}

// dockerfile checks the image has a Dockerfile that builds on the parent the builder passes.
func (c *checker) dockerfile(img *model.Image) {
	df := img.Dockerfile
	if df == nil {
		c.report(model.Pos{File: "images/" + img.Name}, "image-dockerfile", "image %s has no Dockerfile", img.Name)
		return
	}
	if len(df.From) == 0 {
		c.report(model.Pos{File: df.Path, Line: 1}, "image-dockerfile", "the Dockerfile of image %s has no FROM", img.Name)
		return
	}
	last := df.From[len(df.From)-1]
	if !strings.HasPrefix(last.V, "${PARENT_IMAGE}") && !strings.HasPrefix(last.V, "$PARENT_IMAGE") {
		c.report(last.Pos, "image-dockerfile", "image %s must be built FROM ${PARENT_IMAGE} (the builder passes the parent's content-addressed tag), not FROM %s", img.Name, last.V)
	}
}

// buildArgs checks every build argument is one the Dockerfile declares.
func (c *checker) buildArgs(img *model.Image, args []model.Arg) {
	if img.Dockerfile == nil {
		return
	}
	for _, a := range args {
		if !slices.ContainsFunc(img.Dockerfile.Args, func(v model.Value[string]) bool { return v.V == a.Key.V }) {
			c.report(a.Key.Pos, "build-arg-undeclared", "build argument %s is not declared in the Dockerfile of image %s (add `ARG %s`)", a.Key.V, img.Name, a.Key.V)
		}
	}
}

// partitions checks an image's extra partitions.
func (c *checker) partitions(img *model.Image) {
	mounts, labels := seen[string]{}, seen[string]{}
	for _, p := range img.Disk.Partitions {
		if prev, dup := mounts.first(p.Mount.V, p.Mount.Pos); dup && p.Mount.V != "" {
			c.report(p.Mount.Pos, "duplicate-mount", "image %s mounts two partitions at %s (first at %s)", img.Name, p.Mount.V, at(prev))
		}
		if prev, dup := labels.first(p.Label.V, p.Label.Pos); dup && p.Label.V != "" {
			c.report(p.Label.Pos, "duplicate-mount", "image %s has two partitions labelled %s (first at %s)", img.Name, p.Label.V, at(prev))
		}
		if p.Mount.Set() && !strings.HasPrefix(p.Mount.V, "/") {
			c.report(p.Mount.Pos, model.RuleBadValue, "mount point %q of image %s is not an absolute path", p.Mount.V, img.Name)
		}
		if p.Filesystem.Set() && p.Filesystem.V != "ext4" && p.Filesystem.V != "xfs" {
			c.report(p.Filesystem.Pos, model.RuleBadValue, "filesystem %q of image %s is not ext4 or xfs", p.Filesystem.V, img.Name)
		}
	}
}

// pattern checks a spec's regular expression compiles.
func (c *checker) pattern(v model.Value[string], what string) {
	if !v.Set() {
		return
	}
	if _, err := regexp.Compile(v.V); err != nil {
		c.report(v.Pos, "bad-pattern", "%s: %v", what, err)
	}
}
