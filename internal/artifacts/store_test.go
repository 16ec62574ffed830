package artifacts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// idOf makes a well-formed image id from a word.
func idOf(word string) imageid.ID {
	sum := sha256.Sum256([]byte(word))
	return imageid.ID(hex.EncodeToString(sum[:]))
}

func sumOf(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// sources writes each artifact's content to a file and returns name → path.
func sources(t testing.TB, contents map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for name, content := range contents {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// manifest is a build of image "debian" (variant "debian-gpu") with a kernel, an initrd and
// a disk.
func manifest(id imageid.ID) artifacts.Manifest {
	return artifacts.Manifest{
		ID:        id,
		Name:      "debian",
		Variant:   "debian-gpu",
		Parent:    idOf("base"),
		BuildArgs: map[string]string{"SUITE": "bookworm"},
		Created:   t0,
		Artifacts: []artifacts.Artifact{
			{Name: "disk.qcow2", Kind: artifacts.KindWholeDisk, Format: "qcow2"},
			{Name: "vmlinuz", Kind: artifacts.KindKernel, Format: "raw"},
			{Name: "initrd.img", Kind: artifacts.KindInitrd, Format: "raw"},
		},
		Packages:    []pkgdiff.Package{{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "amd64", Source: "glibc"}},
		SpecResults: json.RawMessage(`{"passed":12,"failed":0}`),
	}
}

var contents = map[string]string{
	"disk.qcow2": "QFI\xfb a disk image, 0123456789 abcdefghij",
	"vmlinuz":    "a kernel",
	"initrd.img": "an initrd",
}

func open(t testing.TB) *artifacts.Store {
	t.Helper()
	s, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertNothingLeft checks that id is not published and no publication is in progress.
func assertNothingLeft(t *testing.T, s *artifacts.Store, id imageid.ID) {
	t.Helper()
	if _, err := s.Get(id); !errors.Is(err, artifacts.ErrNotFound) {
		t.Errorf("Get after a failed publication: got %v, want ErrNotFound", err)
	}
	if _, err := os.Lstat(filepath.Join(s.Root(), string(id))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("image directory: got %v, want it not to exist", err)
	}
	entries, err := os.ReadDir(filepath.Join(s.Root(), ".staging"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in .staging: %s", e.Name())
	}
}

func TestPublishGetVerify(t *testing.T) {
	s := open(t)
	id := idOf("debian-gpu build 1")
	files := []pkgdiff.FileEntry{
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "/etc/motd", Mode: 0o644, Size: 6, SHA256: sumOf("hello\n")},
		{Path: "/lib", Mode: fs.ModeSymlink | 0o777, LinkTarget: "usr/lib"},
	}
	if err := s.Publish(context.Background(), manifest(id), sources(t, contents), files); err != nil {
		t.Fatal(err)
	}

	got, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	want := manifest(id)
	want.Schema = artifacts.Schema
	for i, a := range want.Artifacts {
		want.Artifacts[i].Size, want.Artifacts[i].SHA256 = int64(len(contents[a.Name])), sumOf(contents[a.Name])
	}
	want.Files = got.Files // checked below, through Files
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.SpecResults); err != nil || compact.String() != string(want.SpecResults) {
		t.Errorf("spec results: got %s, %v; want %s", got.SpecResults, err, want.SpecResults)
	}
	got.SpecResults = want.SpecResults // indented on disk
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get:\ngot  %+v\nwant %+v", got, want)
	}
	if got.Files == nil || got.Files.Count != 3 || got.Files.Name != "files.json.gz" {
		t.Errorf("manifest's file list: got %+v, want 3 entries in files.json.gz", got.Files)
	}
	gotFiles, err := s.Files(id)
	if err != nil || !reflect.DeepEqual(gotFiles, files) {
		t.Errorf("Files: got %+v, %v\nwant %+v", gotFiles, err, files)
	}
	for name, content := range contents {
		data, err := os.ReadFile(s.Path(id, name))
		if err != nil || string(data) != content {
			t.Errorf("%s: got %q, %v; want %q", name, data, err, content)
		}
	}
	if err := s.Verify(context.Background(), id); err != nil {
		t.Errorf("Verify: %v", err)
	}
	assertNothingLeft(t, s, idOf("another"))

	// The manifest on disk is the documented format, which the golden file shows.
	data, err := os.ReadFile(s.Path(id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "manifest.json", data)

	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("List: got %v, %v; want the one image", list, err)
	}
	usage, err := s.Usage()
	if min := int64(len(contents["disk.qcow2"]) + len(data)); err != nil || usage < min {
		t.Errorf("Usage: got %d, %v; want at least %d", usage, err, min)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs; run go test -update and review the diff.\ngot:\n%s", path, got)
	}
}

func TestGetUnknown(t *testing.T) {
	s := open(t)
	for _, id := range []imageid.ID{idOf("never built"), "", "..", "../../etc", imageid.ID(strings.ToUpper(string(idOf("x"))))} {
		if _, err := s.Get(id); !errors.Is(err, artifacts.ErrNotFound) {
			t.Errorf("Get(%q): got %v, want ErrNotFound", id, err)
		}
	}
}

func TestPublishExistingIsNoOp(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id := idOf("build")
	if err := s.Publish(ctx, manifest(id), sources(t, contents), nil); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"disk.qcow2": "another disk", "vmlinuz": "another kernel", "initrd.img": "another initrd"}
	if err := s.Publish(ctx, manifest(id), sources(t, other), nil); err != nil {
		t.Fatalf("publishing again: %v", err)
	}
	if data, _ := os.ReadFile(s.Path(id, "disk.qcow2")); string(data) != contents["disk.qcow2"] {
		t.Errorf("publishing an existing id changed it: disk is %q", data)
	}

	// The same through Begin and Commit, which stage first and then find the id taken.
	st, err := s.Begin(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	src := sources(t, other)
	for _, a := range manifest(id).Artifacts {
		if _, err := st.Add(ctx, a, src[a.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Commit(ctx, manifest(id)); err != nil {
		t.Fatalf("Commit of an existing id: %v", err)
	}
	if data, _ := os.ReadFile(s.Path(id, "disk.qcow2")); string(data) != contents["disk.qcow2"] {
		t.Errorf("Commit of an existing id changed it: disk is %q", data)
	}

	// Replace overwrites it.
	st, err = s.Begin(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, artifacts.Artifact{Name: "disk.qcow2", Kind: artifacts.KindWholeDisk, Format: "qcow2"}, src["disk.qcow2"]); err != nil {
		t.Fatal(err)
	}
	m := manifest(id)
	m.Artifacts = nil
	if err := st.Replace(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(id)
	if err != nil || len(got.Artifacts) != 1 || got.Artifacts[0].SHA256 != sumOf("another disk") {
		t.Errorf("after Replace: got %+v, %v; want only the new disk", got.Artifacts, err)
	}
	if _, err := os.Stat(s.Path(id, "vmlinuz")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Replace, the old kernel: got %v, want it gone", err)
	}
	if err := s.Verify(ctx, id); err != nil {
		t.Errorf("Verify after Replace: %v", err)
	}
	assertNothingLeft(t, s, idOf("other"))
}

// cancelAfterFirstRead cancels a context once the first chunk has been read: a publication
// interrupted midway.
type cancelAfterFirstRead struct {
	cancel context.CancelFunc
	read   bool
}

func (r *cancelAfterFirstRead) Read(p []byte) (int, error) {
	if r.read {
		r.cancel()
	}
	r.read = true
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestPublishFailureLeavesNothing(t *testing.T) {
	id := idOf("broken build")
	cases := []struct {
		name    string
		publish func(ctx context.Context, s *artifacts.Store, src map[string]string) error
	}{
		{"missing source", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			src["vmlinuz"] = filepath.Join(filepath.Dir(src["vmlinuz"]), "not-there")
			return s.Publish(ctx, manifest(id), src, nil)
		}},
		{"no source for an artifact", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			delete(src, "initrd.img")
			return s.Publish(ctx, manifest(id), src, nil)
		}},
		{"context cancelled", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return s.Publish(ctx, manifest(id), src, nil)
		}},
		{"context cancelled midway through a copy", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := s.Begin(ctx, id)
			if err != nil {
				return err
			}
			defer st.Abort()
			if _, err := st.Add(ctx, manifest(id).Artifacts[1], src["vmlinuz"]); err != nil {
				return err
			}
			if _, err := st.AddReader(ctx, manifest(id).Artifacts[0], &cancelAfterFirstRead{cancel: cancel}); err != nil {
				return err
			}
			return st.Commit(ctx, manifest(id))
		}},
		{"digest mismatch", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			m := manifest(id)
			m.Artifacts[0].SHA256 = sumOf("something else")
			return s.Publish(ctx, m, src, nil)
		}},
		{"artifact name with a slash", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			m := manifest(id)
			m.Artifacts[0].Name = "../disk.qcow2"
			src["../disk.qcow2"] = src["disk.qcow2"]
			delete(src, "disk.qcow2")
			return s.Publish(ctx, m, src, nil)
		}},
		{"manifest for another id", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			st, err := s.Begin(ctx, id)
			if err != nil {
				return err
			}
			return st.Commit(ctx, manifest(idOf("other")))
		}},
		{"spec results not JSON", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			m := manifest(id)
			m.SpecResults = json.RawMessage(`{"passed":`)
			return s.Publish(ctx, m, src, nil)
		}},
		{"manifest lists an artifact not added", func(ctx context.Context, s *artifacts.Store, src map[string]string) error {
			st, err := s.Begin(ctx, id)
			if err != nil {
				return err
			}
			if _, err := st.Add(ctx, manifest(id).Artifacts[1], src["vmlinuz"]); err != nil {
				return err
			}
			return st.Commit(ctx, manifest(id))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			err := tc.publish(context.Background(), s, sources(t, contents))
			if err == nil {
				t.Fatal("got no error")
			}
			t.Log(err)
			assertNothingLeft(t, s, id)
		})
	}
}

func TestOpenCleansStaging(t *testing.T) {
	s := open(t)
	id := idOf("kept")
	if err := s.Publish(context.Background(), manifest(id), sources(t, contents), nil); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of a publication leaves.
	half := filepath.Join(s.Root(), ".staging", "0123456789ab-crashed")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "disk.qcow2"), []byte("half a disk"), 0o444); err != nil {
		t.Fatal(err)
	}
	// And a scratch directory that a crashed build did not remove.
	scratch, err := s.ScratchDir("disk-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "disk.qcow2"), []byte("a disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := artifacts.Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, s2, idOf("crashed"))
	if err := s2.Verify(context.Background(), id); err != nil {
		t.Errorf("the published image after Open: %v", err)
	}
}

func TestVerifyReportsTampering(t *testing.T) {
	s := open(t)
	id := idOf("tampered")
	if err := s.Publish(context.Background(), manifest(id), sources(t, contents), []pkgdiff.FileEntry{{Path: "/etc"}}); err != nil {
		t.Fatal(err)
	}
	tamper := func(name, content string) {
		p := s.Path(id, name)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tampered := strings.Replace(contents["disk.qcow2"], "0123", "0124", 1)
	tamper("disk.qcow2", tampered)
	tamper("files.json.gz", "not gzip")
	if err := os.Remove(s.Path(id, "initrd.img")); err != nil {
		t.Fatal(err)
	}

	err := s.Verify(context.Background(), id)
	if err == nil {
		t.Fatal("Verify: got no error for a tampered disk")
	}
	var mismatch *artifacts.MismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Verify: got %v, want a MismatchError", err)
	}
	want := &artifacts.MismatchError{ID: id, File: "disk.qcow2", Want: sumOf(contents["disk.qcow2"]), Got: sumOf(tampered)}
	if *mismatch != *want {
		t.Errorf("Verify: got %+v, want %+v", mismatch, want)
	}
	msg := err.Error()
	for _, part := range []string{"disk.qcow2", want.Want, want.Got, "initrd.img", "files.json.gz"} {
		if !strings.Contains(msg, part) {
			t.Errorf("Verify's error does not name %s:\n%s", part, msg)
		}
	}
	if strings.Contains(msg, "vmlinuz") {
		t.Errorf("Verify's error names the intact kernel:\n%s", msg)
	}
	if _, err := s.Files(id); err == nil {
		t.Error("Files: got no error for a tampered file list")
	}
}

func TestMove(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id := idOf("moved")
	src := sources(t, contents)
	st, err := s.Begin(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort()

	// A wrong digest leaves the source where it was.
	bad := manifest(id).Artifacts[0]
	bad.SHA256 = sumOf("other")
	if _, err := st.Move(ctx, bad, src["disk.qcow2"]); err == nil {
		t.Error("Move with a wrong digest: got no error")
	}
	if data, err := os.ReadFile(src["disk.qcow2"]); err != nil || string(data) != contents["disk.qcow2"] {
		t.Errorf("source after a failed Move: got %q, %v", data, err)
	}

	for _, a := range manifest(id).Artifacts {
		got, err := st.Move(ctx, a, src[a.Name])
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != sumOf(contents[a.Name]) || got.Size != int64(len(contents[a.Name])) {
			t.Errorf("Move %s: got %+v", a.Name, got)
		}
		if _, err := os.Stat(src[a.Name]); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("source of %s after Move: got %v, want it gone", a.Name, err)
		}
	}
	if err := st.Commit(ctx, manifest(id)); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, id); err != nil {
		t.Error(err)
	}
	info, err := os.Stat(s.Path(id, "disk.qcow2"))
	if err != nil || info.Mode().Perm() != 0o444 {
		t.Errorf("moved artifact: got %v, %v; want mode 0444", info.Mode(), err)
	}
}

func TestConcurrentPublishOfOneID(t *testing.T) {
	s := open(t)
	id := idOf("raced")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		src := sources(t, contents)
		wg.Go(func() { errs[i] = s.Publish(context.Background(), manifest(id), src, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("publisher %d: %v", i, err)
		}
	}
	if err := s.Verify(context.Background(), id); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, s, idOf("none"))
}

func TestList(t *testing.T) {
	s := open(t)
	publish := func(word, name string, created time.Time) imageid.ID {
		m := manifest(idOf(word))
		m.Name, m.Variant, m.Created = name, name, created
		if err := s.Publish(context.Background(), m, sources(t, contents), nil); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	c := publish("c", "zeta", t0)
	b := publish("b", "alpha", t0.Add(time.Hour))
	a := publish("a", "alpha", t0)
	// Not images: ignored.
	if err := os.Mkdir(filepath.Join(s.Root(), "lost+found"), 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []imageid.ID
	for _, m := range list {
		got = append(got, m.ID)
	}
	if want := []imageid.ID{a, b, c}; !reflect.DeepEqual(got, want) {
		t.Errorf("List: got %v, want %v (by name, then created)", got, want)
	}
}
