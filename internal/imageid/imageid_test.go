package imageid_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// fleet is a base image, a child built on it, and a cluster variant of the child.
func fleet() fstest.MapFS {
	return fstest.MapFS{
		"images/base/image.yaml":     {Data: []byte("bootstrap: {suite: bookworm}\ndisk: {size: 4GiB}\n")},
		"images/base/Dockerfile":     {Data: []byte("ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\n")},
		"images/base/tree/etc/motd":  {Data: []byte("hello\n")},
		"images/child/image.yaml":    {Data: []byte("parent: base\nbuild_args: {A: '1', B: '2'}\ndisk: {size: 4GiB}\n")},
		"images/child/Dockerfile":    {Data: []byte("ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\nARG A\nARG B\n")},
		"images/child/tree/bin/tool": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"clusters/c.yaml":            {Data: []byte("images:\n  v: {image: child, build_args: {B: '3'}}\n")},
	}
}

func ids(t *testing.T, fsys fstest.MapFS) map[string]*imageid.Build {
	t.Helper()
	repo, findings, err := model.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 {
		t.Fatalf("fixture has findings: %v", findings)
	}
	r := imageid.NewResolver(repo)
	out := map[string]*imageid.Build{}
	for _, name := range []string{"base", "child", "v"} {
		b, err := r.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func TestIDs(t *testing.T) {
	orig := ids(t, fleet())
	if orig["child"].Parent != orig["base"].ID || orig["v"].Parent != orig["base"].ID {
		t.Errorf("child and variant must be built on base's id")
	}
	if orig["v"].BuildArgs["A"] != "1" || orig["v"].BuildArgs["B"] != "3" {
		t.Errorf("variant args: got %v, want A=1 (the image's) and B=3 (the variant's)", orig["v"].BuildArgs)
	}
	if orig["v"].ID == orig["child"].ID {
		t.Errorf("a variant with other build args must have another id")
	}
	cases := []struct {
		name    string
		edit    func(fstest.MapFS)
		changed []string // which ids change; the others must not
	}{
		{"nothing", func(fstest.MapFS) {}, nil},
		{"base file content", func(f fstest.MapFS) { f["images/base/tree/etc/motd"].Data = []byte("bye\n") }, []string{"base", "child", "v"}},
		{"child executable bit", func(f fstest.MapFS) { f["images/child/tree/bin/tool"].Mode = 0o644 }, []string{"child", "v"}},
		{"child file renamed", func(f fstest.MapFS) {
			f["images/child/tree/bin/tool2"] = f["images/child/tree/bin/tool"]
			delete(f, "images/child/tree/bin/tool")
		}, []string{"child", "v"}},
		{"variant arg", func(f fstest.MapFS) {
			f["clusters/c.yaml"].Data = []byte("images:\n  v: {image: child, build_args: {B: '4'}}\n")
		}, []string{"v"}},
		{"variant args reordered", func(f fstest.MapFS) {
			f["clusters/c.yaml"].Data = []byte("images:\n  v: {image: child, build_args: {A: '1', B: '3'}}\n")
		}, nil},
		{"image.yaml rewritten with the same args", func(f fstest.MapFS) {
			f["images/child/image.yaml"].Data = []byte("parent: base\nbuild_args: {B: '2', A: '1'}\ndisk: {size: 4GiB}\n")
		}, []string{"child", "v"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fleet()
			c.edit(f)
			got := ids(t, f)
			for _, name := range []string{"base", "child", "v"} {
				want := false
				for _, n := range c.changed {
					want = want || n == name
				}
				if changed := got[name].ID != orig[name].ID; changed != want {
					t.Errorf("%s: id changed = %v, want %v", name, changed, want)
				}
			}
		})
	}
}

func TestCycle(t *testing.T) {
	f := fleet()
	f["images/base/image.yaml"].Data = []byte("parent: child\ndisk: {size: 4GiB}\n")
	repo, _, err := model.Load(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imageid.NewResolver(repo).Resolve("child"); err == nil {
		t.Fatal("a parent cycle must not resolve")
	}
}
