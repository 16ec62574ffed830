package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
)

// needImageTools skips a test that builds images for real when the tools
// are missing, except under CI, where scripts/test.sh installs them.
func needImageTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds images: minutes; not with -short")
	}
	for _, tool := range []string{"buildah", "mmdebstrap", "mke2fs", "mkfs.fat", "mcopy", "sfdisk", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; scripts/test.sh installs it", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah with vfs storage and chroot isolation needs root here")
	}
}

// imageRuns returns the check runs named "image: VARIANT" on sha.
func imageRuns(gh *githubtest.Server, sha, variant string) []githubtest.CheckRun {
	var out []githubtest.CheckRun
	for _, run := range gh.CheckRuns(owner, repoName) {
		if run.Name == "image: "+variant && run.HeadSHA == sha {
			out = append(out, run)
		}
	}
	return out
}

// TestServeBuildsChangedImagesAndForksOnlyOnRequest: a pull request that
// adds a package to the DNS servers' image gets the check run
// "image: mesos-dns-green" with the package added in its diff and links to
// the artifacts, which the bot serves; the same change from a fork gets its
// plan but no image check run until a writer comments /build.
func TestServeBuildsChangedImagesAndForksOnlyOnRequest(t *testing.T) {
	needImageTools(t)
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){
		"dns-tree": func(dir string) {
			replaceOnce(t, filepath.Join(dir, "clusters", "green-cluster.yaml"),
				"      MESOS_DNS_DOMAIN: green.mesos\n", "      MESOS_DNS_DOMAIN: green.mesos\n      EXTRA_PKGS: \"tree\"\n")
		},
	})
	gh.SetPermission(owner, repoName, "walt", "write")
	s := startServe(t, gh, t.TempDir(), "--build-images=true", "--public-url", "https://bot.example.com")
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 20, BaseRef: "main", HeadRef: "dns-tree", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))

	var run githubtest.CheckRun
	deadline := time.Now().Add(40 * time.Minute)
	for {
		runs := imageRuns(gh, pr.HeadSHA, "mesos-dns-green")
		if len(runs) == 1 && runs[0].Status == "completed" {
			run = runs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed image check run after 40 minutes; runs %+v\nlog:\n%s", runs, s.log)
		}
		time.Sleep(time.Second)
	}
	if run.Conclusion != "success" {
		t.Fatalf("image check run: %s %q\n%s", run.Conclusion, run.Output.Title, run.Output.Summary)
	}
	for _, want := range []string{"### Changes against the base", "| `tree` |", "disk.qcow2", "/images/", "spec checks passed"} {
		if !strings.Contains(run.Output.Summary, want) {
			t.Errorf("image check run summary lacks %q:\n%s", want, run.Output.Summary)
		}
	}
	if run.Updates < 1 {
		t.Errorf("the image check run was never updated while building")
	}
	// The links point at the bot's /images/, which serves the artifacts.
	link := run.Output.Summary[strings.Index(run.Output.Summary, "https://bot.example.com/images/"):]
	link = link[len("https://bot.example.com"):strings.Index(link, ")")]
	resp, err := http.Head(s.base + link)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength < 1<<20 {
		t.Errorf("HEAD %s: %v %v, want the artifact", link, resp, err)
	}
	// Only the changed image has a check run.
	for _, variant := range []string{"base", "mesos-master-green", "mesos-agent-persistent-storage"} {
		if runs := imageRuns(gh, pr.HeadSHA, variant); len(runs) != 0 {
			t.Errorf("unchanged image %s got %d check runs", variant, len(runs))
		}
	}

	// The same change from a fork: the plan, and no image check run.
	fork := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 21, BaseRef: "main", HeadRef: "dns-tree", Author: "mallory", ForkOwner: "mallory"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, fork.Number))
	waitFor(t, "the fork's plan", s.log, func() bool {
		for _, r := range planRuns(gh, fork.HeadSHA) {
			if r.Status == "completed" && strings.Contains(r.Output.Summary, "/build") {
				return true
			}
		}
		return false
	})
	waitFor(t, "the fork's delivery to be worked", s.log, func() bool { return s.jobsDone(t, "pull_request") >= 2 })
	if runs := imageRuns(gh, fork.HeadSHA, "mesos-dns-green"); len(runs) != 1 {
		t.Fatalf("after the fork's pull request: %d image check runs on its head, want only the first pull request's", len(runs))
	}

	payload, comment := gh.IssueCommentEvent(owner, repoName, fork.Number, "walt", "/build")
	s.accept(t, "issue_comment", payload)
	waitFor(t, "the image check run that /build asked for", s.log, func() bool {
		runs := imageRuns(gh, fork.HeadSHA, "mesos-dns-green")
		return len(runs) == 2 && runs[1].Status == "completed" && runs[1].Conclusion == "success"
	})
	if r := gh.Reactions(owner, repoName, comment); len(r) != 1 || r[0] != "eyes" {
		t.Errorf("reactions on /build: %v, want [eyes]", r)
	}
}
