package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := bot(t, args...)
			if r.code != exitOK {
				t.Fatalf("got %s\nwant exit 0", r)
			}
			for _, cmd := range []string{"bot validate", "bot plan", "bot rules"} {
				if !strings.Contains(r.stdout, cmd) {
					t.Errorf("help does not mention %q:\n%s", cmd, r.stdout)
				}
			}
		})
	}
}

func TestCommandHelp(t *testing.T) {
	for _, cmd := range []string{"validate", "plan"} {
		t.Run(cmd, func(t *testing.T) {
			r := bot(t, cmd, "--help")
			if r.code != exitOK {
				t.Fatalf("got %s\nwant exit 0", r)
			}
			if !strings.Contains(r.stderr, "--repo") && !strings.Contains(r.stderr, "-repo") {
				t.Errorf("bot %s --help does not list --repo:\n%s", cmd, r.stderr)
			}
		})
	}
}

func TestNoArguments(t *testing.T) {
	r := bot(t)
	if r.code != exitUsage {
		t.Fatalf("got %s\nwant exit 2", r)
	}
	if !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("stderr does not show the usage:\n%s", r.stderr)
	}
}

func TestRules(t *testing.T) {
	r := bot(t, "rules")
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	// A sample across the loader and every validator; each line is "id severity summary".
	for _, id := range []string{"yaml-syntax", "unknown-key", "duplicate-ip", "master-quorum", "unknown-image", "secret-literal", "bad-pattern"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+(error|warning)\s+\S`).MatchString(r.stdout) {
			t.Errorf("bot rules does not list %q with a severity and a summary:\n%s", id, r.stdout)
		}
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		id := strings.Fields(line)[0]
		if ids[id] {
			t.Errorf("rule %q listed twice", id)
		}
		ids[id] = true
	}
}

// TestBadInput checks that every mistake a user can make ends with exit 2 and one line on
// stderr that says what is wrong, never a stack trace.
func TestBadInput(t *testing.T) {
	repo := exampleRepo(t)

	notGit := exampleFleet(t)
	// Keep git from finding a repository above the temporary directory.
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(notGit))

	missing := filepath.Join(t.TempDir(), "no-such-dir")
	noFleet := t.TempDir()
	writeFile(t, noFleet, "README.md", "not a fleet\n")

	tests := []struct {
		name string
		args []string
		want string // in the one line on stderr
	}{
		{"plan in a directory that is not git", []string{"plan", "--repo", notGit}, "not a git repository"},
		{"plan of an unknown base", []string{"plan", "--repo", repo, "--base", "no-such-rev"}, `unknown revision "no-such-rev"`},
		{"plan of an unknown head", []string{"plan", "--repo", repo, "--head", "no-such-rev"}, `unknown revision "no-such-rev"`},
		{"validate an unknown revision", []string{"validate", "--repo", repo, "--rev", "no-such-rev"}, `unknown revision "no-such-rev"`},
		{"plan of a missing directory", []string{"plan", "--repo", missing}, missing},
		{"plan of a missing directory with --head", []string{"plan", "--repo", missing, "--head", "HEAD"}, missing},
		{"validate a missing directory", []string{"validate", "--repo", missing}, missing},
		{"validate a directory with no fleet", []string{"validate", "--repo", noFleet}, "inventory/"},
		{"plan of a directory with no fleet", []string{"plan", "--repo", noFleet, "--bootstrap"}, "inventory/"},
		{"format xml", []string{"plan", "--repo", repo, "--format", "xml"}, `"xml"`},
		{"positional argument to plan", []string{"plan", "--repo", repo, "extra"}, `"extra"`},
		{"positional argument to validate", []string{"validate", "--repo", repo, "extra"}, `"extra"`},
		{"argument to rules", []string{"rules", "extra"}, "no arguments"},
		{"bootstrap with base", []string{"plan", "--repo", repo, "--bootstrap", "--base", "HEAD"}, "--bootstrap"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"output into a missing directory", []string{"plan", "--repo", repo, "--output", filepath.Join(missing, "plan.md")}, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bot(t, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("got %s\nwant exit 2", r)
			}
			for _, bad := range []string{"panic", "goroutine", "internal error"} {
				if strings.Contains(r.stdout+r.stderr, bad) {
					t.Fatalf("output has %q:\n%s", bad, r)
				}
			}
			line := strings.TrimSuffix(r.stderr, "\n")
			if line == "" || strings.Contains(line, "\n") {
				t.Fatalf("stderr is not one line:\n%s", r.stderr)
			}
			if !strings.HasPrefix(line, "bot") {
				t.Errorf("stderr line %q does not start with bot", line)
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("stderr line %q does not say %q", line, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
}
