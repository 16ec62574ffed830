package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fleetFolders are the folders of a fleet repository, copied from the project's example fleet.
var fleetFolders = []string{"inventory", "clusters", "images", "specs"}

// exampleRoot is where the example fleet lives, relative to this package.
const exampleRoot = "../.."

// result is what one run of the command line did.
type result struct {
	code           int
	stdout, stderr string
}

// bot runs the command line in-process.
func bot(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// String describes the run for failure messages.
func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + clip(r.stdout) + "\n--- stderr:\n" + clip(r.stderr)
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "…"
	}
	return s
}

// hermeticGit makes every git the test and the bot run ignore the machine's and the user's
// configuration. It uses t.Setenv, so tests that call it cannot run in parallel.
func hermeticGit(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	// A fixed author and date make commit ids, and so plans, reproducible.
	t.Setenv("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
	t.Setenv("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
}

// git runs git in dir and returns its standard output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	full := append([]string{
		"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
	}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// commitAll commits everything in the working tree.
func commitAll(t *testing.T, dir, msg string) {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

// exampleFleet copies the project's example fleet into a fresh directory and returns it.
func exampleFleet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copied := 0
	for _, folder := range fleetFolders {
		src := filepath.Join(exampleRoot, folder)
		if _, err := os.Stat(src); os.IsNotExist(err) {
			continue
		}
		copyTree(t, src, filepath.Join(dir, folder))
		copied++
	}
	if copied == 0 {
		t.Fatalf("no example fleet in %s: none of %v exists", exampleRoot, fleetFolders)
	}
	return dir
}

// exampleRepo is the example fleet as a git repository with one commit.
func exampleRepo(t *testing.T) string {
	t.Helper()
	hermeticGit(t)
	dir := exampleFleet(t)
	git(t, dir, "init", "-q")
	commitAll(t, dir, "the example fleet")
	return dir
}

// copyTree copies a directory tree, keeping executable bits and symbolic links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// writeFile writes a file under dir, creating its folder.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceOnce replaces old with new in a file, failing unless old occurs exactly once.
func replaceOnce(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s holds %q %d times, want once", path, old, n)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The example fleet, read straight from its YAML with no help from the code under test, so
// that the tests' expectations do not come from what they test.

// fleetNode is a node as clusters/*.yaml declares it.
type fleetNode struct {
	cluster, role, name string
	file                string // relative to the repository
	ip                  string // lan.ip, with its prefix
	folder              string // the images/ folder its image is built from
}

// fleetFacts is what the tests need to know about a fleet.
type fleetFacts struct {
	clusters []string
	nodes    []fleetNode
	// parents maps an image folder to its parent folder ("" for a root image).
	parents map[string]string
}

// readFleet reads the clusters and image definitions of the fleet in dir.
func readFleet(t *testing.T, dir string) fleetFacts {
	t.Helper()
	type lan struct {
		IP string `yaml:"ip"`
	}
	type node struct {
		LAN   lan       `yaml:"lan"`
		Image yaml.Node `yaml:"image"`
	}
	type clustersFile struct {
		Images   map[string]struct{ Image string } `yaml:"images"`
		Clusters map[string]map[string]yaml.Node   `yaml:"clusters"`
	}
	facts := fleetFacts{parents: map[string]string{}}
	variants := map[string]string{} // variant name → folder
	type rawNode struct {
		fleetNode
		image yaml.Node
	}
	var raw []rawNode

	files, err := filepath.Glob(filepath.Join(dir, "clusters", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f clustersFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for name, v := range f.Images {
			variants[name] = v.Image
		}
		rel, _ := filepath.Rel(dir, path)
		for cname, keys := range f.Clusters {
			facts.clusters = append(facts.clusters, cname)
			for _, role := range []string{"masters", "dns_servers", "agents"} {
				n, ok := keys[role]
				if !ok {
					continue
				}
				var nodes map[string]node
				if err := n.Decode(&nodes); err != nil {
					t.Fatalf("%s: %s.%s: %v", path, cname, role, err)
				}
				for name, nd := range nodes {
					raw = append(raw, rawNode{
						fleetNode: fleetNode{cluster: cname, role: role, name: name, file: rel, ip: nd.LAN.IP},
						image:     nd.Image,
					})
				}
			}
		}
	}
	for _, r := range raw {
		n := r.fleetNode
		img := r.image
		if img.Kind == yaml.AliasNode {
			img = *img.Alias
		}
		switch img.Kind {
		case yaml.MappingNode: // an inline or aliased variant
			var v struct{ Image string }
			if err := img.Decode(&v); err != nil {
				t.Fatal(err)
			}
			n.folder = v.Image
		case yaml.ScalarNode: // a variant's name or a folder
			if f, ok := variants[img.Value]; ok {
				n.folder = f
			} else {
				n.folder = img.Value
			}
		}
		facts.nodes = append(facts.nodes, n)
	}
	sort.Strings(facts.clusters)
	sort.Slice(facts.nodes, func(i, j int) bool {
		a, b := facts.nodes[i], facts.nodes[j]
		if a.cluster != b.cluster {
			return a.cluster < b.cluster
		}
		return a.name < b.name
	})

	defs, err := filepath.Glob(filepath.Join(dir, "images", "*", "image.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range defs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var def struct{ Parent string }
		if err := yaml.Unmarshal(data, &def); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		facts.parents[filepath.Base(filepath.Dir(path))] = def.Parent
	}
	return facts
}

// builtOn reports whether images of folder are built from folder ancestor (or are it).
func (f fleetFacts) builtOn(folder, ancestor string) bool {
	for seen := 0; folder != "" && seen <= len(f.parents); seen++ {
		if folder == ancestor {
			return true
		}
		folder = f.parents[folder]
	}
	return false
}

// The plan as its JSON form shows it: the field names are part of the contract with the
// rollout and other consumers, so the test decodes into its own types.

type jsonPlan struct {
	Schema   string            `json:"schema"`
	Base     jsonRev           `json:"base"`
	Head     jsonRev           `json:"head"`
	Valid    bool              `json:"valid"`
	Findings []jsonFinding     `json:"findings"`
	Summary  map[string]int    `json:"summary"`
	Images   []jsonImage       `json:"images"`
	Clusters []jsonCluster     `json:"clusters"`
	Files    []json.RawMessage `json:"files"`
}

type jsonRev struct {
	Rev    string `json:"rev"`
	Commit string `json:"commit"`
}

type jsonFinding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
}

type jsonImage struct {
	Variant string   `json:"variant"`
	Image   string   `json:"image"`
	Action  string   `json:"action"`
	Reasons []string `json:"reasons"`
	UsedBy  []string `json:"used_by"`
}

type jsonCluster struct {
	Name   string     `json:"name"`
	Status string     `json:"status"`
	Waves  []jsonWave `json:"waves"`
	Nodes  []jsonNode `json:"nodes"`
}

type jsonWave struct {
	Number int      `json:"number"`
	Role   string   `json:"role"`
	Action string   `json:"action"`
	Nodes  []string `json:"nodes"`
	Down   int      `json:"down"`
}

type jsonNode struct {
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Action  string   `json:"action"`
	Reasons []string `json:"reasons"`
	Image   string   `json:"image"`
	Wave    int      `json:"wave"`
}

// decodePlan decodes a JSON plan strictly.
func decodePlan(t *testing.T, out string) jsonPlan {
	t.Helper()
	var p jsonPlan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("the plan is not valid JSON: %v\n%s", err, clip(out))
	}
	if p.Schema != "cluster-as-code/plan/v1" {
		t.Fatalf("schema = %q, want %q", p.Schema, "cluster-as-code/plan/v1")
	}
	return p
}

// nodeActions maps "cluster/node" to the node's entry in the plan.
func (p jsonPlan) nodeActions() map[string]jsonNode {
	m := map[string]jsonNode{}
	for _, c := range p.Clusters {
		for _, n := range c.Nodes {
			m[c.Name+"/"+n.Name] = n
		}
	}
	return m
}
