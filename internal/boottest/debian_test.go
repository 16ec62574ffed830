package boottest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/cluster-as-code/cluster-as-code/internal/aptsources"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/diskimage"
)

// The Debian root the boot test makes. The hostname is set so the getty's
// prompt is predictable; nobody logs in, so no password is set.
const (
	suite    = "bookworm"
	variant  = "minbase"
	include  = "systemd,systemd-sysv,linux-image-amd64,initramfs-tools,udev,login,passwd"
	hostname = "boottest"
	hook     = `echo ` + hostname + ` > "$1/etc/hostname"`
	// cacheVersion changes when the way the root is made changes in a way
	// the key does not see.
	cacheVersion = "1"
	// cacheMaxAge is how long a cached root is used before it is made anew
	// with current packages.
	cacheMaxAge = 30 * 24 * time.Hour
)

// TestDebianImageBoots makes a Debian root with mmdebstrap, turns it into a
// whole-disk image with extra partitions and boots it under QEMU until the
// login prompt.
func TestDebianImageBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real image: slow")
	}
	need(t, "mmdebstrap", "qemu-system-x86_64", "qemu-img", "mke2fs", "mkfs.xfs", "mkfs.fat", "mcopy", "sfdisk")
	for _, f := range []string{OVMFCode, OVMFVars} {
		if _, err := os.Stat(f); err != nil {
			needFailed(t, "the Debian package ovmf: %v", err)
		}
	}
	if os.Geteuid() != 0 {
		needFailed(t, "mmdebstrap must run as root to make a root owned by real uids")
	}
	ctx := context.Background()
	mirror, err := mirrorFor("/", suite)
	if err != nil {
		t.Fatal(err)
	}
	root := debianRoot(t, ctx, mirror)

	work := t.TempDir()
	start := time.Now()
	files, err := diskimage.Build(ctx, diskimage.Request{
		Name: "boottest", Root: root, WorkDir: work, OutDir: filepath.Join(work, "out"),
		Layout: diskimage.Layout{
			RootSize: 1 << 30,
			Extra: []diskimage.Partition{
				{Label: "data", Mount: "/data", Size: 300 << 20, Filesystem: "xfs"},
				{Label: "datarw", Mount: "/srv/datarw", Size: 64 << 20, Filesystem: "ext4"},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("disk image made in %v", time.Since(start).Round(time.Millisecond))

	res, err := Boot(ctx, Config{Disk: files[0].Path, WorkDir: filepath.Join(work, "boot")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot to %q took %v under %s (KVM failure: %q)", res.Pattern, res.Elapsed.Round(time.Millisecond), res.Accel, res.KVMFailed)
	log, err := os.ReadFile(res.SerialLog)
	if err != nil {
		t.Fatal(err)
	}
	// The prompt names the host, and the kernel says it mounted the extra
	// partitions that /etc/fstab lists.
	for _, want := range []string{hostname + " login:", "XFS (vda3): Ending clean mount", "EXT4-fs (vda4): mounted filesystem"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("serial console lacks %q; see %s", want, res.SerialLog)
		}
	}
	if t.Failed() {
		t.Logf("serial console:\n%s", log)
	}
}

func needFailed(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// debianRoot returns a Debian root made by mmdebstrap, from the cache when
// an identical one (same suite, packages, hook and mirror) was made in the
// last cacheMaxAge. The cache is under the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache)/cluster-as-code/boottest; a root is made in
// a temporary directory beside it and renamed into place whole, so a run
// that dies half-way leaves nothing another run could take for complete.
func debianRoot(t *testing.T, ctx context.Context, mirror string) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{cacheVersion, suite, variant, include, hook, mirror}, "\n")))
	dir := filepath.Join(base, "cluster-as-code", "boottest")
	final := filepath.Join(dir, "root-"+hex.EncodeToString(sum[:8]))
	if fi, err := os.Stat(final); err == nil && time.Since(fi.ModTime()) < cacheMaxAge {
		t.Logf("using the Debian root cached in %s", final)
		return final
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(dir, "making-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	target := filepath.Join(tmp, "root")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "mmdebstrap", "--quiet", "--variant="+variant, "--include="+include,
		"--customize-hook="+hook, suite, target, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mmdebstrap: %v\n%s", err, out)
	}
	t.Logf("mmdebstrap took %v", time.Since(start).Round(time.Millisecond))
	// The directory's time says when it was made, for cacheMaxAge.
	now := time.Now()
	if err := os.Chtimes(target, now, now); err != nil {
		t.Fatal(err)
	}
	// An old root is moved aside first, so the rename below is atomic.
	if _, err := os.Stat(final); err == nil {
		if err := os.Rename(final, filepath.Join(tmp, "old")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(target, final); err != nil {
		if _, statErr := os.Stat(final); statErr == nil {
			return final // another run put its root in place first
		}
		t.Fatal(err)
	}
	return final
}

// mirrorFor returns the URI of the machine's APT source for suite.
func mirrorFor(root, suite string) (string, error) {
	sources, err := aptsources.Read(root)
	if err != nil {
		return "", err
	}
	m, err := aptsources.MirrorFor(sources, suite)
	return m.Primary, err
}
