package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestValidateExampleFleet(t *testing.T) {
	dir := exampleFleet(t)
	r := bot(t, "validate", "--repo", dir)
	if r.code != exitOK {
		t.Fatalf("the example fleet does not validate: got %s\nwant exit 0", r)
	}
	if r.stdout != "" {
		t.Errorf("findings on the example fleet:\n%s", r.stdout)
	}
	facts := readFleet(t, dir)
	if len(facts.nodes) == 0 {
		t.Fatalf("the example fleet has no nodes")
	}
	if want := "0 errors, 0 warnings"; !strings.Contains(r.stderr, want) {
		t.Errorf("summary %q does not say %q", r.stderr, want)
	}
}

func TestValidateRevision(t *testing.T) {
	repo := exampleRepo(t)
	// The working tree breaks; the committed revision is still fine.
	writeFile(t, repo, "clusters/broken.yaml", "clusters: [\n")
	if r := bot(t, "validate", "--repo", repo, "--rev", "HEAD"); r.code != exitOK {
		t.Errorf("validate --rev HEAD: got %s\nwant exit 0", r)
	}
	if r := bot(t, "validate", "--repo", repo); r.code != exitFindings {
		t.Errorf("validate of the broken working tree: got %s\nwant exit 1", r)
	}
}

func TestValidateFindings(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		// want matches one line of stdout.
		want string
	}{
		{
			name: "malformed YAML",
			file: "clusters/broken.yaml",
			content: "clusters:\n" +
				"  broken:\n" +
				"    dns: {nameservers: [10.0.0.1]\n" + // the flow mapping is never closed
				"    etcd:\n" +
				"      token: x\n",
			// yaml.v3 reports the line of a syntax error but no column.
			want: `^clusters/broken\.yaml:\d+(:\d+)?: error yaml-syntax: \S`,
		},
		{
			name:    "tab indentation",
			file:    "inventory/broken.yaml",
			content: "racks:\n\t- name: x\n",
			want:    `^inventory/broken\.yaml:2(:\d+)?: error yaml-syntax: \S`,
		},
		{
			name:    "unknown key",
			file:    "clusters/typo.yaml",
			content: "clusterz: {}\n",
			want:    `^clusters/typo\.yaml:1:1: error unknown-key: .*clusterz`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := exampleFleet(t)
			writeFile(t, dir, tt.file, tt.content)
			r := bot(t, "validate", "--repo", dir)
			if r.code != exitFindings {
				t.Fatalf("got %s\nwant exit 1", r)
			}
			if !regexp.MustCompile(`(?m)` + tt.want).MatchString(r.stdout) {
				t.Errorf("stdout has no line matching %s:\n%s", tt.want, r.stdout)
			}
			if strings.Contains(r.stdout+r.stderr, "panic") {
				t.Errorf("output mentions a panic:\n%s", r)
			}
			if !strings.Contains(r.stderr, "1 error") {
				t.Errorf("summary %q does not count the error", r.stderr)
			}
		})
	}
}

// TestValidateFindingsPointIntoTheFile checks that a finding's line is where the problem is.
func TestValidateFindingsPointIntoTheFile(t *testing.T) {
	dir := exampleFleet(t)
	content := "# a comment\n" +
		"\n" +
		"clusters:\n" +
		"  extra:\n" +
		"    colour: green\n" // line 5: not a key of a cluster
	writeFile(t, dir, filepath.Join("clusters", "extra.yaml"), content)
	r := bot(t, "validate", "--repo", dir)
	if r.code != exitFindings {
		t.Fatalf("got %s\nwant exit 1", r)
	}
	if !regexp.MustCompile(`(?m)^clusters/extra\.yaml:5:5: error unknown-key: .*colour`).MatchString(r.stdout) {
		t.Errorf("no unknown-key finding at clusters/extra.yaml:5:5:\n%s", r.stdout)
	}
}
