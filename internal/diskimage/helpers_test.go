package diskimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// need skips a test when a tool is missing, except in CI, where it fails.
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := lookTool(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
	}
}

// needRoot skips a test that must chown, except in CI, where it fails.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test makes files owned by other users: run it as root")
		}
		t.Skip("this test makes files owned by other users: run it as root")
	}
}

// allTools are the tools a build with ext4 and xfs partitions uses, and
// those the tests inspect its outputs with.
var allTools = []string{"mke2fs", "debugfs", "dumpe2fs", "mkfs.fat", "mmd", "mcopy", "mtype", "sfdisk", "qemu-img", "mkfs.xfs", "blkid", "sha256sum"}

// entry is one file of a test tree.
type entry struct {
	path     string
	mode     fs.FileMode // type and permission bits, setuid and sticky included
	uid, gid int
	content  string // file content, or symlink target
	link     string // for a hard link: the path it links to
}

// mine makes entries owned by the user running the test, for tests that
// need not run as root.
func mine(entries []entry) []entry {
	out := slices.Clone(entries)
	for i := range out {
		out[i].uid, out[i].gid = os.Geteuid(), os.Getegid()
	}
	return out
}

// writeTree makes the entries under root, in order.
func writeTree(t testing.TB, root string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.link != "":
			err = os.Link(filepath.Join(root, e.link), p)
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.content, p)
		case e.mode.IsDir():
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, []byte(e.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.link != "" {
			continue
		}
		if err := os.Lchown(p, e.uid, e.gid); err != nil {
			t.Fatal(err)
		}
		if e.mode&fs.ModeSymlink == 0 {
			// chmod after chown: chown clears setuid.
			if err := os.Chmod(p, e.mode&fs.ModePerm|e.mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// randomFile writes size bytes that neither compress nor hold zero blocks.
func randomFile(t testing.TB, name string, size int, seed uint64) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, size)
	r.Read(buf)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tool runs a command the test inspects with and returns its standard output.
func tool(t testing.TB, name string, args ...string) string {
	t.Helper()
	path, err := lookTool(name)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// toRaw converts a qcow2 image back to a sparse raw file.
func toRaw(t testing.TB, qcow2 string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), filepath.Base(qcow2)+".raw")
	tool(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2, raw)
	return raw
}

// gptPartition is one partition as sfdisk --json reports it.
type gptPartition struct {
	Node  string `json:"node"`
	Start int64  `json:"start"` // sectors
	Size  int64  `json:"size"`  // sectors
	Type  string `json:"type"`
	Name  string `json:"name"`
}

func readGPT(t testing.TB, raw string) (label string, parts []gptPartition) {
	t.Helper()
	var out struct {
		Table struct {
			Label      string         `json:"label"`
			Partitions []gptPartition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(tool(t, "sfdisk", "--json", raw)), &out); err != nil {
		t.Fatal(err)
	}
	return out.Table.Label, out.Table.Partitions
}

// probe reads a file system's type and label with blkid, at an offset of
// a disk.
func probe(t testing.TB, raw string, p gptPartition) map[string]string {
	t.Helper()
	out := tool(t, "blkid", "-p", "-o", "export", "-O", strconv.FormatInt(p.Start*512, 10), "-S", strconv.FormatInt(p.Size*512, 10), raw)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// extInode is what debugfs's "ls -p" says of a directory entry.
type extInode struct {
	ino      string
	mode     uint64 // st_mode: type and permission bits
	uid, gid int
	size     string
}

// listExt lists directories of an ext file system (file or file?offset=N)
// with debugfs, keyed by path.
func listExt(t testing.TB, image string, dirs []string) map[string]extInode {
	t.Helper()
	script := filepath.Join(t.TempDir(), "ls")
	var sb strings.Builder
	for _, d := range dirs {
		fmt.Fprintf(&sb, "ls -p %q\n", d)
	}
	os.WriteFile(script, []byte(sb.String()), 0o644)
	out := tool(t, "debugfs", "-f", script, image)
	m := map[string]extInode{}
	dir := ""
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
			dir, _ = strconv.Unquote(d)
			continue
		}
		f := strings.Split(line, "/")
		if len(f) != 8 || f[5] == "." || f[5] == ".." {
			continue
		}
		mode, _ := strconv.ParseUint(f[2], 8, 32)
		uid, _ := strconv.Atoi(f[3])
		gid, _ := strconv.Atoi(f[4])
		m[filepath.Join(dir, f[5])] = extInode{ino: f[1], mode: mode, uid: uid, gid: gid, size: f[6]}
	}
	return m
}

// catExt reads a file of an ext file system with debugfs.
func catExt(t testing.TB, image, path string) string {
	t.Helper()
	return tool(t, "debugfs", "-R", "cat "+path, image)
}

// statMode is a file's st_mode as the kernel reports it.
func statMode(t testing.TB, path string) (mode uint64, uid, gid int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Mode), int(st.Uid), int(st.Gid)
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run go test -update and review the diff):\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// snapshot records every file's metadata and content hash under root, to
// show the build left the source alone.
func snapshot(t testing.TB, root string) string {
	t.Helper()
	var sb strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&sb, "%s %o %d:%d %d %d\n", p, st.Mode, st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&sb, "  %x\n", sha256.Sum256(data))
		}
		return nil
	})
	return sb.String()
}

// dirEntries lists a directory; a missing one is empty.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
