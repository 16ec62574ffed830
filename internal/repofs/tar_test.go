package repofs_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

func TestFromTarEqualsFromGit(t *testing.T) {
	repo := newFleetRepo(t)
	tests := []struct {
		name     string
		format   string
		prefixes []string
	}{
		{"tar.gz, everything", "tar.gz", nil},
		{"tar.gz, fleet folders", "tar.gz", fleetFolders},
		{"plain tar, fleet folders", "tar", fleetFolders},
		{"plain tar, one file", "tar", []string{"inventory/bin/provision.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive, err := gitBytes(repo.dir, "archive", "--format="+tt.format, "--prefix=owner-repo-abc123/", "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if comment := paxComment(t, archive); comment != repo.second {
				t.Fatalf("archive's pax global header comment = %q, want the commit %s", comment, repo.second)
			}
			fromTar, err := repofs.FromTar(bytes.NewReader(archive), tt.prefixes...)
			if err != nil {
				t.Fatalf("FromTar: %v", err)
			}
			fromGit, err := repofs.FromGit(context.Background(), repo.dir, "HEAD", tt.prefixes...)
			if err != nil {
				t.Fatalf("FromGit: %v", err)
			}
			if d := diffFiles(contents(t, fromTar), contents(t, fromGit)); d != "" {
				t.Errorf("FromTar differs from FromGit:\n%s", d)
			}
			if fromTar.Commit != "" {
				t.Errorf("Commit = %q, want empty", fromTar.Commit)
			}
		})
	}
}

// paxComment returns the comment of the archive's pax global header, proving the test
// feeds FromTar one.
func paxComment(t *testing.T, archive []byte) string {
	t.Helper()
	var r io.Reader = bytes.NewReader(archive)
	if zr, err := gzip.NewReader(bytes.NewReader(archive)); err == nil {
		r = zr
	}
	hdr, err := tar.NewReader(r).Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Typeflag != tar.TypeXGlobalHeader {
		return ""
	}
	return hdr.PAXRecords["comment"]
}

// entry is one tar entry to write.
type entry struct {
	hdr  tar.Header
	data string
}

func makeTar(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.data))
		}
		if hdr.Mode == 0 && hdr.Typeflag != tar.TypeXGlobalHeader {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func file(name, data string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name}, data: data}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func TestFromTar(t *testing.T) {
	for _, gz := range []bool{false, true} {
		archive := makeTar(t, gz,
			entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "0123456789abcdef0123456789abcdef01234567"}}},
			dir("o-r-1/"),
			dir("o-r-1/inventory/"),
			file("o-r-1/inventory/servers.yaml", "servers: []\n"),
			entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "o-r-1/inventory/run.sh", Mode: 0o775}, data: "#!/bin/sh\n"},
			entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "o-r-1/inventory/up", Linkname: "../../etc/passwd"}},
			entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "o-r-1/inventory/hard", Linkname: "o-r-1/inventory/servers.yaml"}},
			entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "o-r-1/inventory/null", Devmajor: 1, Devminor: 3}},
			entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "o-r-1/inventory/fifo"}},
			dir("o-r-1/specs/empty/"),
			file("o-r-1/README.md", "# fleet\n"),
		)
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			s, err := repofs.FromTar(bytes.NewReader(archive), "inventory", "specs")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]File{
				"inventory/servers.yaml": reg("servers: []\n"),
				"inventory/run.sh":       exe("#!/bin/sh\n"),
				"inventory/up":           link("../../etc/passwd"),
			}
			if d := diffFiles(contents(t, s), want); d != "" {
				t.Errorf("files differ:\n%s", d)
			}
		})
	}
}

func TestFromTarRejects(t *testing.T) {
	tests := []struct {
		name    string
		archive []byte
		wantMsg string
	}{
		{"dot-dot at the top", makeTar(t, false, file("../evil", "x")), "leaves the top folder"},
		{"dot-dot inside", makeTar(t, true, dir("o-r-1/"), file("o-r-1/a/../../evil", "x")), "leaves the top folder"},
		{"dot-dot symlink name", makeTar(t, false, dir("o-r-1/"),
			entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "o-r-1/../x", Linkname: "y"}}), "leaves the top folder"},
		{"dot-dot outside prefixes", makeTar(t, false, dir("o-r-1/"), file("o-r-1/specs/../../evil", "x")), "leaves the top folder"},
		{"absolute", makeTar(t, false, file("/etc/passwd", "x")), "absolute path"},
		{"two top folders", makeTar(t, false, file("o-r-1/a", "x"), file("o-r-2/b", "y")), `not under the top folder "o-r-1"`},
		{"file at the top", makeTar(t, false, file("README.md", "x")), "not under a top folder"},
		{"dot top folder", makeTar(t, false, file("./a", "x")), "invalid path"},
		{"empty element", makeTar(t, false, file("o-r-1//a", "x")), "invalid path"},
		{"duplicate", makeTar(t, false, file("o-r-1/a", "x"), file("o-r-1/a", "y")), "duplicate entry"},
		{"file below a file", makeTar(t, false, file("o-r-1/a", "x"), file("o-r-1/a/b", "y")), `parent "a" is a file`},
		{"file below a symbolic link", makeTar(t, false,
			entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "o-r-1/specs", Linkname: "/etc"}},
			file("o-r-1/specs/passwd", "y")), `parent "specs" is a file`},
		{"empty input", nil, "no entries"},
		{"not a tarball", []byte(strings.Repeat("not a tarball ", 100)), "reading tarball"},
		{"truncated gzip", makeTar(t, true, file("o-r-1/a", strings.Repeat("x", 5000)))[:40], "reading tarball"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := repofs.FromTar(bytes.NewReader(tt.archive))
			if err == nil {
				t.Fatalf("FromTar = %q, want an error", s.Paths())
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestFromTarReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	archive := makeTar(t, true, file("o-r-1/a", strings.Repeat("x", 100000)))
	r := io.MultiReader(bytes.NewReader(archive[:len(archive)/2]), iotest.ErrReader(boom))
	_, err := repofs.FromTar(r)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v does not wrap %v", err, boom)
	}
}
