package artifacts_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
)

// build is one image in a GC fixture, named by a word for readable failures.
type build struct {
	word, variant, parent string
	age                   time.Duration
}

func TestGC(t *testing.T) {
	// base is built on nothing, debian on base, and debian-gpu is a variant of debian.
	fixture := []build{
		{"base-1", "base", "", 40 * time.Hour},
		{"base-2", "base", "", 30 * time.Hour},
		{"base-3", "base", "", 20 * time.Hour},
		{"debian-1", "debian", "base-1", 39 * time.Hour},
		{"debian-2", "debian", "base-2", 29 * time.Hour},
		{"debian-3", "debian", "base-2", 10 * time.Hour},
		{"gpu-1", "debian-gpu", "base-1", 38 * time.Hour},
		{"gpu-2", "debian-gpu", "base-3", 5 * time.Hour},
	}
	cases := []struct {
		name        string
		policy      artifacts.GCPolicy
		wantRemoved []string
	}{
		{
			name:        "zero policy keeps the newest of each variant",
			wantRemoved: []string{"base-1", "base-2", "debian-1", "debian-2", "gpu-1"},
		},
		{
			name:        "referenced ids and the last two per variant",
			policy:      artifacts.GCPolicy{Keep: ids("debian-1"), KeepLast: 2},
			wantRemoved: []string{"base-1"},
		},
		{
			name:        "referenced ids only",
			policy:      artifacts.GCPolicy{Keep: ids("debian-2", "gpu-1", "never-built"), KeepLast: -1},
			wantRemoved: []string{"base-1", "base-2", "base-3", "debian-1", "debian-3", "gpu-2"},
		},
		{
			name:        "parents of kept images",
			policy:      artifacts.GCPolicy{Keep: ids("debian-2", "gpu-1"), KeepLast: -1, KeepParents: true},
			wantRemoved: []string{"base-3", "debian-1", "debian-3", "gpu-2"},
		},
		{
			name:        "young builds",
			policy:      artifacts.GCPolicy{KeepLast: -1, MinAge: 12 * time.Hour},
			wantRemoved: []string{"base-1", "base-2", "base-3", "debian-1", "debian-2", "gpu-1"},
		},
		{
			name:        "everything kept",
			policy:      artifacts.GCPolicy{KeepLast: 10},
			wantRemoved: nil,
		},
	}
	for _, tc := range cases {
		for _, dry := range []bool{true, false} {
			name := tc.name
			if dry {
				name += " (dry run)"
			}
			t.Run(name, func(t *testing.T) {
				s := open(t)
				now := time.Now()
				for _, b := range fixture {
					m := manifest(idOf(b.word))
					m.Name, m.Variant, m.Created = "debian", b.variant, now.Add(-b.age)
					m.Parent = ""
					if b.parent != "" {
						m.Parent = idOf(b.parent)
					}
					if err := s.Publish(context.Background(), m, sources(t, contents), nil); err != nil {
						t.Fatal(err)
					}
				}
				p := tc.policy
				p.DryRun = dry
				removed, err := s.GC(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := words(removed), tc.wantRemoved; !reflect.DeepEqual(got, want) {
					t.Errorf("removed: got %v, want %v", got, want)
				}
				for _, b := range fixture {
					_, err := s.Get(idOf(b.word))
					gone := errors.Is(err, artifacts.ErrNotFound)
					if wantGone := !dry && slices.Contains(tc.wantRemoved, b.word); gone != wantGone {
						t.Errorf("%s: gone is %v, want %v (err %v)", b.word, gone, wantGone, err)
					}
					if err == nil {
						if err := s.Verify(context.Background(), idOf(b.word)); err != nil {
							t.Errorf("%s was kept but damaged: %v", b.word, err)
						}
					}
				}
				assertNothingLeft(t, s, idOf("none"))
			})
		}
	}
}

func TestGCCancelled(t *testing.T) {
	s := open(t)
	for _, w := range []string{"a", "b"} {
		m := manifest(idOf(w))
		m.Created = t0.Add(time.Duration(len(w)) * time.Hour)
		if err := s.Publish(context.Background(), m, sources(t, contents), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	removed, err := s.GC(ctx, artifacts.GCPolicy{KeepLast: -1})
	if err == nil || len(removed) != 0 {
		t.Errorf("GC with a cancelled context: got %v, %v; want nothing removed and an error", removed, err)
	}
}

func ids(words ...string) []imageid.ID {
	out := make([]imageid.ID, len(words))
	for i, w := range words {
		out[i] = idOf(w)
	}
	return out
}

// words maps ids back to the fixture's words, sorted.
func words(removed []imageid.ID) []string {
	known := map[imageid.ID]string{}
	for _, w := range []string{"base-1", "base-2", "base-3", "debian-1", "debian-2", "debian-3", "gpu-1", "gpu-2"} {
		known[idOf(w)] = w
	}
	var out []string
	for _, id := range removed {
		out = append(out, known[id])
	}
	slices.Sort(out)
	return out
}
