package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPlanBootstrapMarkdown(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	r := bot(t, "plan", "--bootstrap", "--repo", repo)
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	if !strings.Contains(r.stdout, "provision") {
		t.Errorf("the bootstrap plan does not say provision:\n%s", clip(r.stdout))
	}
	for _, c := range facts.clusters {
		if !strings.Contains(r.stdout, c) {
			t.Errorf("the bootstrap plan does not mention cluster %q", c)
		}
	}
	for _, n := range facts.nodes {
		if !strings.Contains(r.stdout, "`"+n.name+"`") {
			t.Errorf("the bootstrap plan does not mention node %q", n.name)
		}
	}
	// The files' own text may say anything; the plan above them must not.
	actions, _, _ := strings.Cut(r.stdout, "### Changed files")
	if regexp.MustCompile(`(?i)re-?provision|decommission`).MatchString(actions) {
		t.Errorf("a plan from nothing re-provisions or decommissions:\n%s", clip(actions))
	}

	// The same inputs give the same bytes.
	if again := bot(t, "plan", "--bootstrap", "--repo", repo); again.stdout != r.stdout {
		t.Errorf("two bootstrap plans of one repository differ")
	}
}

func TestPlanBootstrapJSON(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	r := bot(t, "plan", "--bootstrap", "--repo", repo, "--format", "json")
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	p := decodePlan(t, r.stdout)
	if !p.Valid {
		t.Errorf("the bootstrap plan of the example fleet is not valid: %+v", p.Findings)
	}
	var clusters []string
	for _, c := range p.Clusters {
		clusters = append(clusters, c.Name)
		if c.Status != "new" {
			t.Errorf("cluster %s is %q, want new", c.Name, c.Status)
		}
	}
	if !slices.Equal(clusters, facts.clusters) {
		t.Errorf("clusters = %v, want %v", clusters, facts.clusters)
	}
	actions := p.nodeActions()
	if len(actions) != len(facts.nodes) {
		t.Errorf("the plan has %d nodes, the fleet %d", len(actions), len(facts.nodes))
	}
	for _, n := range facts.nodes {
		a, ok := actions[n.cluster+"/"+n.name]
		switch {
		case !ok:
			t.Errorf("node %s/%s is not in the plan", n.cluster, n.name)
		case a.Action != "provision" || a.Wave == 0:
			t.Errorf("node %s/%s: action %q in wave %d, want provision in a wave", n.cluster, n.name, a.Action, a.Wave)
		}
	}
	if got, want := p.Summary["provision"], len(facts.nodes); got != want {
		t.Errorf("summary.provision = %d, want %d", got, want)
	}
	// Every image a node runs is built.
	built := map[string]bool{}
	for _, img := range p.Images {
		if img.Action == "build" {
			built[img.Image] = true
		}
	}
	for _, n := range facts.nodes {
		if !built[n.folder] {
			t.Errorf("node %s runs an image of %s, which the plan does not build", n.name, n.folder)
		}
	}
}

func TestPlanOutputFile(t *testing.T) {
	repo := exampleRepo(t)
	out := filepath.Join(t.TempDir(), "plan.json")
	r := bot(t, "plan", "--bootstrap", "--repo", repo, "--format", "json", "--output", out)
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	if r.stdout != "" {
		t.Errorf("with --output, stdout is not empty:\n%s", clip(r.stdout))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	decodePlan(t, string(data))
}

func TestPlanNothingChanged(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	for _, args := range [][]string{
		{"plan", "--repo", repo, "--format", "json"},
		{"plan", "--repo", repo, "--base", "HEAD", "--head", "HEAD", "--format", "json"},
	} {
		r := bot(t, args...)
		if r.code != exitOK {
			t.Fatalf("%v: got %s\nwant exit 0", args, r)
		}
		p := decodePlan(t, r.stdout)
		if len(p.Images) != 0 {
			t.Errorf("%v: images %+v, want none", args, p.Images)
		}
		if got, want := p.Summary["unchanged"], len(facts.nodes); got != want {
			t.Errorf("%v: summary.unchanged = %d, want %d", args, got, want)
		}
		for key, a := range p.nodeActions() {
			if a.Action != "unchanged" {
				t.Errorf("%v: %s is %q, want unchanged", args, key, a.Action)
			}
		}
	}
}

// newIP returns an address in ip's subnet, other than ip, that no file under dir/clusters
// mentions.
func newIP(t *testing.T, dir, ip string) string {
	t.Helper()
	prefix, err := netip.ParsePrefix(ip)
	if err != nil {
		t.Fatalf("lan.ip %q: %v", ip, err)
	}
	var all strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "clusters", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	addr := prefix.Addr()
	for range 64 {
		addr = addr.Next()
		if !prefix.Masked().Contains(addr) {
			break
		}
		candidate := fmt.Sprintf("%s/%d", addr, prefix.Bits())
		if !strings.Contains(all.String(), addr.String()+"/") && !strings.HasSuffix(addr.String(), ".255") {
			return candidate
		}
	}
	t.Fatalf("no free address next to %s", ip)
	return ""
}

// pickNode returns the first node of role, failing if the fleet has none.
func pickNode(t *testing.T, facts fleetFacts, role string) fleetNode {
	t.Helper()
	for _, n := range facts.nodes {
		if n.role == role {
			return n
		}
	}
	t.Fatalf("the example fleet has no %s", role)
	return fleetNode{}
}

// changeIP commits a new lan.ip for node n and returns the plan of that commit.
func changeIP(t *testing.T, repo string, n fleetNode) jsonPlan {
	t.Helper()
	ip := newIP(t, repo, n.ip)
	replaceOnce(t, filepath.Join(repo, n.file), "ip: "+n.ip+"\n", "ip: "+ip+"\n")
	commitAll(t, repo, "move "+n.name)
	r := bot(t, "plan", "--repo", repo, "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	return decodePlan(t, r.stdout)
}

func TestPlanAgentIPChange(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	agent := pickNode(t, facts, "agents")
	p := changeIP(t, repo, agent)

	if p.Base.Rev != "HEAD~1" || p.Head.Rev != "HEAD" || len(p.Base.Commit) != 40 || len(p.Head.Commit) != 40 || p.Base.Commit == p.Head.Commit {
		t.Errorf("base %+v, head %+v: want HEAD~1 and HEAD with their distinct commits", p.Base, p.Head)
	}
	if len(p.Images) != 0 {
		t.Errorf("an address change builds images: %+v", p.Images)
	}
	actions := p.nodeActions()
	for _, n := range facts.nodes {
		a := actions[n.cluster+"/"+n.name]
		if n.name == agent.name && n.cluster == agent.cluster {
			if a.Action != "reprovision" {
				t.Errorf("%s: action %q, want reprovision", n.name, a.Action)
			}
			if !slices.ContainsFunc(a.Reasons, func(s string) bool { return strings.Contains(s, "lan.ip") }) {
				t.Errorf("%s: reasons %q do not mention lan.ip", n.name, a.Reasons)
			}
			continue
		}
		// Only masters' addresses are shared with other nodes.
		if a.Action != "unchanged" {
			t.Errorf("%s: action %q (%q), want unchanged", n.name, a.Action, a.Reasons)
		}
	}
	if got := p.Summary["reprovision"]; got != 1 {
		t.Errorf("summary.reprovision = %d, want 1", got)
	}
}

func TestPlanMasterIPChange(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	master := pickNode(t, facts, "masters")
	p := changeIP(t, repo, master)

	actions := p.nodeActions()
	for _, n := range facts.nodes {
		a := actions[n.cluster+"/"+n.name]
		switch {
		case n.cluster != master.cluster:
			if a.Action != "unchanged" {
				t.Errorf("%s/%s in another cluster: action %q, want unchanged", n.cluster, n.name, a.Action)
			}
		case n.name == master.name:
			if a.Action != "reprovision" || !slices.ContainsFunc(a.Reasons, func(s string) bool { return strings.Contains(s, "lan.ip") }) {
				t.Errorf("%s: action %q, reasons %q; want reprovision because of lan.ip", n.name, a.Action, a.Reasons)
			}
		default:
			// Every node of the cluster is told where the masters are.
			if a.Action != "reprovision" || !slices.ContainsFunc(a.Reasons, func(s string) bool { return strings.Contains(s, "master") }) {
				t.Errorf("%s: action %q, reasons %q; want reprovision because the master list changed", n.name, a.Action, a.Reasons)
			}
		}
	}
}

func TestPlanDockerfileChange(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	folder := pickNode(t, facts, "agents").folder
	dockerfile := filepath.Join(repo, "images", folder, "Dockerfile")
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dockerfile, append(data, "# rebuild\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "touch "+folder)
	r := bot(t, "plan", "--repo", repo, "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	p := decodePlan(t, r.stdout)

	var builds, folders []string
	for _, img := range p.Images {
		if img.Action != "build" {
			t.Errorf("image %s: action %q, want build", img.Variant, img.Action)
			continue
		}
		builds = append(builds, img.Variant)
		folders = append(folders, img.Image)
		if !facts.builtOn(img.Image, folder) {
			t.Errorf("image %s (%s) is built, but it is not built from %s", img.Variant, img.Image, folder)
		}
		if !slices.ContainsFunc(img.Reasons, func(s string) bool { return strings.Contains(s, "Dockerfile") || strings.Contains(s, folder) }) {
			t.Errorf("image %s: reasons %q mention neither the Dockerfile nor %s", img.Variant, img.Reasons, folder)
		}
	}
	if !slices.Contains(folders, folder) {
		t.Errorf("builds %v, want an image of %s among them", builds, folder)
	}

	actions := p.nodeActions()
	for _, n := range facts.nodes {
		a := actions[n.cluster+"/"+n.name]
		if facts.builtOn(n.folder, folder) {
			if a.Action != "reprovision" || !slices.ContainsFunc(a.Reasons, func(s string) bool { return strings.Contains(s, "image") }) {
				t.Errorf("%s runs %s: action %q, reasons %q; want reprovision because its image changed", n.name, n.folder, a.Action, a.Reasons)
			}
			if !slices.ContainsFunc(builds, func(v string) bool { return v == a.Image }) {
				t.Errorf("%s is re-provisioned with an image the plan does not build", n.name)
			}
		} else if a.Action != "unchanged" {
			t.Errorf("%s runs %s: action %q, want unchanged", n.name, n.folder, a.Action)
		}
	}
}

func TestPlanWorkingTree(t *testing.T) {
	repo := exampleRepo(t)
	facts := readFleet(t, repo)
	agent := pickNode(t, facts, "agents")
	ip := newIP(t, repo, agent.ip)
	replaceOnce(t, filepath.Join(repo, agent.file), "ip: "+agent.ip+"\n", "ip: "+ip+"\n")

	r := bot(t, "plan", "--repo", repo, "--format", "json")
	if r.code != exitOK {
		t.Fatalf("got %s\nwant exit 0", r)
	}
	p := decodePlan(t, r.stdout)
	if p.Base.Rev != "HEAD" || p.Head.Rev != "working tree" {
		t.Errorf("base %q, head %q; want HEAD and working tree", p.Base.Rev, p.Head.Rev)
	}
	a := p.nodeActions()[agent.cluster+"/"+agent.name]
	if a.Action != "reprovision" || !slices.ContainsFunc(a.Reasons, func(s string) bool { return strings.Contains(s, ip) }) {
		t.Errorf("%s: action %q, reasons %q; want reprovision to %s", agent.name, a.Action, a.Reasons, ip)
	}

	// The Markdown form says the same to a person.
	md := bot(t, "plan", "--repo", repo)
	if md.code != exitOK {
		t.Fatalf("markdown: got %s\nwant exit 0", md)
	}
	for _, want := range []string{"working tree", "provision", agent.name, ip} {
		if !strings.Contains(md.stdout, want) {
			t.Errorf("the Markdown plan does not mention %q:\n%s", want, clip(md.stdout))
		}
	}
}

func TestPlanInvalidHead(t *testing.T) {
	repo := exampleRepo(t)
	writeFile(t, repo, "clusters/broken.yaml", "clusters: [\n")
	r := bot(t, "plan", "--repo", repo, "--format", "json")
	if r.code != exitFindings {
		t.Fatalf("got %s\nwant exit 1", r)
	}
	p := decodePlan(t, r.stdout)
	if p.Valid {
		t.Errorf("a plan to a head with errors is valid")
	}
	if !slices.ContainsFunc(p.Findings, func(f jsonFinding) bool {
		return f.File == "clusters/broken.yaml" && f.Rule == "yaml-syntax" && f.Severity == "error" && f.Line > 0
	}) {
		t.Errorf("findings %+v lack the yaml-syntax error in clusters/broken.yaml", p.Findings)
	}
	if line := strings.TrimSuffix(r.stderr, "\n"); !strings.Contains(line, "validation error") || strings.Contains(line, "\n") {
		t.Errorf("stderr %q: want one line about the validation errors", r.stderr)
	}
}
