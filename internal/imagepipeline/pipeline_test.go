package imagepipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/boottest"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

// These tests run the whole pipeline for real: mmdebstrap, buildah, the
// disk tools and QEMU. They take minutes on a fresh machine (the example
// fleet's base image is bootstrapped and built once, then buildah's store
// keeps it) and are skipped with -short.

// needTools skips the test when a tool is missing, except under CI, where
// scripts/test.sh installs them and a skip would hide a broken pipeline.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the image pipeline takes minutes; not with -short")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; scripts/test.sh installs it", tool)
			}
			t.Skipf("%s is not installed; scripts/test.sh installs it", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah with vfs storage and chroot isolation needs root here")
	}
}

// fixtureFleet is the example fleet's base image and its spec, plus the
// test's own images built on it.
func fixtureFleet(t *testing.T, images map[string]map[string]string) plan.Snapshot {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, "../../images/base", filepath.Join(dir, "images/base"))
	copyDir(t, "../../specs/images/base.yaml", filepath.Join(dir, "specs/images/base.yaml"))
	for _, files := range images {
		for path, content := range files {
			p := filepath.Join(dir, path)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	snap, err := fleet.NewReader().Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v\n%s", src, err, out)
	}
}

func newPipeline(t *testing.T) (*Pipeline, *artifacts.Store) {
	t.Helper()
	st, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &imagebuild.Builder{WorkDir: t.TempDir(), Progress: func(variant, line string) {
		if testing.Verbose() {
			t.Logf("[%s] %s", variant, line)
		}
	}}
	return &Pipeline{Builder: b, Store: st, Progress: b.Progress}, st
}

func TestBaseImageFromDockerfileToBootedDisk(t *testing.T) {
	needTools(t, "buildah", "mmdebstrap", "mke2fs", "mkfs.fat", "mcopy", "sfdisk", "qemu-img", "qemu-system-x86_64")
	ctx := context.Background()
	snap := fixtureFleet(t, nil)
	p, st := newPipeline(t)

	outcomes, err := p.Run(ctx, snap, []string{"base"})
	if err != nil {
		t.Fatal(err)
	}
	o := outcomes[0]
	if !o.Published || o.Manifest == nil {
		t.Fatalf("base was not published: %+v", o)
	}
	if o.Spec == nil || o.Spec.Failed() || o.Spec.Summary.Checks < 60 {
		t.Fatalf("specs: %+v, want the base spec's checks to pass", o.Spec)
	}
	for _, name := range []string{"disk.qcow2", "root.qcow2", "vmlinuz", "initrd.img"} {
		if _, ok := o.Manifest.Artifact(name); !ok {
			t.Errorf("manifest lacks %s", name)
		}
	}
	if len(o.Manifest.Packages) < 100 {
		t.Errorf("manifest lists %d packages", len(o.Manifest.Packages))
	}

	// Served as Ironic fetches it, and the checksum holds over HTTP.
	srv := httptest.NewServer(st.Handler("/images/"))
	defer srv.Close()
	disk, _ := o.Manifest.Artifact("disk.qcow2")
	resp, err := http.Get(srv.URL + "/images/" + string(o.Manifest.ID) + "/disk.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != disk.Size || hex.EncodeToString(h.Sum(nil)) != disk.SHA256 {
		t.Fatalf("fetched %d bytes (%v) with sha256 %x, want %d bytes with %s", n, err, h.Sum(nil), disk.Size, disk.SHA256)
	}

	// Nothing to do the second time.
	again, err := p.Run(ctx, snap, []string{"base"})
	if err != nil || again[0].Built || again[0].Published {
		t.Errorf("second run: %+v %v, want nothing built or published", again[0], err)
	}

	// It boots.
	res, err := boottest.Boot(ctx, boottest.Config{Disk: st.Path(o.Manifest.ID, "disk.qcow2"), WorkDir: t.TempDir(), Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("booted (%s) to %q in %s; serial log %s", res.Accel, res.Pattern, res.Elapsed.Round(time.Second), res.SerialLog)
}

func TestBadImagesSayWhichImageAndStepAndPublishNothing(t *testing.T) {
	needTools(t, "buildah", "mmdebstrap", "mke2fs", "mkfs.fat", "mcopy", "sfdisk", "qemu-img")
	ctx := context.Background()
	fromBase := "ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\n"
	snap := fixtureFleet(t, map[string]map[string]string{
		"failing-run": {
			"images/failing-run/image.yaml": "parent: base\ndisk:\n  size: 4GiB\n",
			"images/failing-run/Dockerfile": fromBase + "RUN echo about to fail && false\nRUN echo never\n",
		},
		"missing-file": {
			"images/missing-file/image.yaml": "parent: base\ndisk:\n  size: 4GiB\n",
			"images/missing-file/Dockerfile": fromBase + "COPY tree/etc/not-there /etc/not-there\n",
		},
		"failing-spec": {
			"images/failing-spec/image.yaml": "parent: base\ndisk:\n  size: 4GiB\n",
			"images/failing-spec/Dockerfile": fromBase + "RUN echo spec > /etc/spec-test\n",
			"specs/images/failing-spec.yaml": "image: failing-spec\npackages:\n  - name: no-such-package\nfiles:\n  - path: /etc/spec-test\n    contains: '^nope$'\n",
		},
		"too-big": {
			"images/too-big/image.yaml": "parent: base\ndisk:\n  size: 64MiB\n",
			"images/too-big/Dockerfile": fromBase + "RUN echo small > /etc/small\n",
		},
	})
	p, st := newPipeline(t)
	cases := []struct {
		image, step string
		want        []string
	}{
		{"failing-run", "build", []string{`image "failing-run"`, "RUN echo about to fail && false", "about to fail"}},
		{"missing-file", "build", []string{`image "missing-file"`, "COPY tree/etc/not-there", "not-there"}},
		{"failing-spec", "specs", []string{"2 of 3 checks failed", "no-such-package", "specs/images/failing-spec.yaml:3", "want /^nope$/"}},
		{"too-big", "disk images", []string{`"too-big"`, "64 MiB"}},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			outcomes, err := p.Run(ctx, snap, []string{c.image})
			if err == nil {
				t.Fatal("no error")
			}
			o := outcomes[len(outcomes)-1]
			var se *StepError
			if !errors.As(o.Err, &se) || se.Step != c.step || se.Variant != c.image {
				t.Fatalf("error %v, want step %q of image %q", o.Err, c.step, c.image)
			}
			for _, w := range c.want {
				if !strings.Contains(o.Err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, o.Err)
				}
			}
			if _, err := st.Get(o.Build.ID); !errors.Is(err, artifacts.ErrNotFound) {
				t.Errorf("the failed image is in the store: %v", err)
			}
		})
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Name != "base" {
			t.Errorf("%s (%s) was published", m.Variant, m.ID.Short())
		}
	}
}
