package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
)

// ironicRun is what one run of runIronic did.
type ironicRun struct {
	err            error
	stdout, stderr string
}

func runIronicTest(t *testing.T, args ...string) ironicRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runIronic(context.Background(), args, &stdout, &stderr)
	return ironicRun{err: err, stdout: stdout.String(), stderr: stderr.String()}
}

// linesWith returns the non-empty lines of s that contain sub.
func linesWith(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func TestIronicEnroll(t *testing.T) {
	dir := exampleFleet(t)
	servers := len(linesWith(readFile(t, filepath.Join(dir, "inventory", "sop-mcr.yaml")), "ironic_uuid:"))
	if servers == 0 {
		t.Fatal("the example inventory has no server with an ironic_uuid")
	}
	s := ironictest.Start(t, ironictest.Options{})
	p := ironictest.NewProxy(t, s.URL())
	t.Setenv("CAC_IRONIC_URL", p.URL()) // the environment names Ironic as well as the flag

	r := runIronicTest(t, "enroll", "--repo", dir, "--driver", "fake-hardware")
	if r.err != nil {
		t.Fatalf("first enroll: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if got := len(linesWith(r.stdout, ": created")); got != servers {
		t.Errorf("first enroll: %d nodes created, want %d:\n%s", got, servers, r.stdout)
	}
	if !strings.Contains(r.stdout, "able (a7af76ad-6583-4209-ba5f-cf1477b6405e): created: port ") {
		t.Errorf("first enroll does not report able with its UUID and ports:\n%s", r.stdout)
	}

	writes := p.Count("PATCH|PUT|POST|DELETE", ".*")
	r = runIronicTest(t, "enroll", "--repo", dir, "--driver", "fake-hardware")
	if r.err != nil {
		t.Fatalf("second enroll: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if got := len(linesWith(r.stdout, ": unchanged")); got != servers {
		t.Errorf("second enroll: %d nodes unchanged, want all %d:\n%s", got, servers, r.stdout)
	}
	if w := p.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("second enroll made %d writes to Ironic, want none", w)
	}
	if want := "0 created, 0 updated, " + strconv.Itoa(servers) + " unchanged, 0 failed"; !strings.Contains(r.stderr, want) {
		t.Errorf("summary: got %q, want %q", r.stderr, want)
	}

	// A dry run against the enrolled Ironic reads it and changes nothing.
	r = runIronicTest(t, "enroll", "--repo", dir, "--driver", "ipmi", "--dry-run")
	if r.err != nil {
		t.Fatalf("dry run: %v\n%s", r.err, r.stderr)
	}
	if got := len(linesWith(r.stdout, ": updated: driver")); got != servers {
		t.Errorf("dry run with another driver: %d nodes would be updated, want %d:\n%s", got, servers, r.stdout)
	}
	if !strings.Contains(r.stdout, `  PATCH /v1/nodes/a7af76ad-6583-4209-ba5f-cf1477b6405e [{"op":"add","path":"/driver","value":"ipmi"}]`) {
		t.Errorf("dry run does not list the PATCH of able's driver:\n%s", r.stdout)
	}
	if w := p.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("the dry run made %d writes to Ironic", w)
	}
	if p.Count(http.MethodGet, "/v1/nodes/.*") == 0 {
		t.Errorf("the dry run did not read Ironic")
	}
}

func TestIronicEnrollDryRunWithoutIronic(t *testing.T) {
	dir := exampleFleet(t)
	t.Setenv("CAC_IRONIC_URL", "")
	r := runIronicTest(t, "enroll", "--repo", dir, "--dry-run")
	if r.err != nil {
		t.Fatalf("dry run: %v\n%s", r.err, r.stderr)
	}
	if len(linesWith(r.stdout, ": created")) == 0 || !strings.Contains(r.stdout, "  POST /v1/nodes {\"uuid\":\"a7af76ad-6583-4209-ba5f-cf1477b6405e\",\"name\":\"able\",\"driver\":\"ipmi\"}") {
		t.Errorf("dry run from an empty Ironic: want every node created with driver ipmi:\n%s", r.stdout)
	}
}

func TestIronicEnrollFlags(t *testing.T) {
	dir := exampleFleet(t)
	t.Setenv("CAC_IRONIC_URL", "")
	t.Setenv("CAC_IRONIC_PASSWORD", "")
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no Ironic", []string{"enroll", "--repo", dir}, "CAC_IRONIC_URL"},
		{"no password flag", []string{"enroll", "--repo", dir, "--ironic-url", "http://127.0.0.1:1", "--ironic-password", "x"}, "flag provided but not defined: -ironic-password"},
		{"user without password", []string{"enroll", "--repo", dir, "--ironic-url", "http://127.0.0.1:1", "--ironic-username", "bot"}, "CAC_IRONIC_PASSWORD"},
		{"Ironic down", []string{"enroll", "--repo", dir, "--ironic-url", "http://127.0.0.1:1"}, "ironic at http://127.0.0.1:1 unreachable"},
		{"no command", nil, "no ironic command"},
		{"unknown command", []string{"unroll"}, `unknown ironic command "unroll"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIronicTest(t, tt.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("bot ironic %s: got %v, want an error saying %q", strings.Join(tt.args, " "), r.err, tt.want)
			}
		})
	}
	if r := runIronicTest(t, "--help"); r.err != errHelp || !strings.Contains(r.stdout, "enroll") {
		t.Errorf("bot ironic --help: got %v, %q", r.err, r.stdout)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
