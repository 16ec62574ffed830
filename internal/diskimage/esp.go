package diskimage

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// kernel is the kernel an image boots and its initrd.
type kernel struct {
	version         string // e.g. "6.1.0-1-amd64"
	vmlinuz, initrd string // paths under the image root
}

// findKernel picks the newest boot/vmlinuz-VERSION of the image root that
// has its boot/initrd.img-VERSION.
func findKernel(root string) (kernel, error) {
	matches, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return kernel{}, err
	}
	var best kernel
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		v := strings.TrimPrefix(filepath.Base(m), "vmlinuz-")
		if best.version == "" || compareVersions(v, best.version) > 0 {
			best = kernel{version: v, vmlinuz: m}
		}
	}
	if best.version == "" {
		return kernel{}, fmt.Errorf("no kernel in image root %s: boot/vmlinuz-* is missing (install a linux-image package)", root)
	}
	best.initrd = filepath.Join(root, "boot", "initrd.img-"+best.version)
	if fi, err := os.Stat(best.initrd); err != nil || !fi.Mode().IsRegular() {
		return kernel{}, fmt.Errorf("no initrd in image root %s: boot/vmlinuz-%s has no boot/initrd.img-%s (install initramfs-tools)", root, best.version, best.version)
	}
	return best, nil
}

// compareVersions orders kernel versions as dpkg does: runs of digits
// compare as numbers, "~" sorts before anything, even the end. So
// 6.1.0-10-amd64 is newer than 6.1.0-9-amd64, and 6.10 newer than 6.9.
func compareVersions(a, b string) int {
	for a != "" || b != "" {
		i, j := span(a, false), span(b, false)
		if c := compareText(a[:i], b[:j]); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
		i, j = span(a, true), span(b, true)
		if c := cmp.Compare(number(a[:i]), number(b[:j])); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// span is the length of the leading run of digits (or non-digits) of s.
func span(s string, digits bool) int {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return i
}

func number(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func compareText(a, b string) int {
	order := func(s string, i int) int {
		switch {
		case i >= len(s):
			return 0
		case s[i] == '~':
			return -1
		case unicode.IsLetter(rune(s[i])):
			return int(s[i])
		default:
			return int(s[i]) + 256
		}
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		if c := cmp.Compare(order(a, i), order(b, i)); c != 0 {
			return c
		}
	}
	return 0
}

// entryName is the boot loader entry's file name: the image name with only
// characters that are safe in a file name on FAT.
func entryName(image string) string {
	n := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.') {
			return r
		}
		return '-'
	}, image)
	return n + ".conf"
}

// KernelOptions is the kernel command line of every image: the root by label, on
// the serial console (where Ironic's and QEMU's consoles are) and the screen.
const KernelOptions = "root=LABEL=" + rootLabel + " ro console=ttyS0,115200 console=tty0"

// makeESP makes the FAT32 EFI system partition with systemd-boot as the
// fallback loader, the kernel, the initrd and a boot loader entry.
func (b *builder) makeESP(ctx context.Context, file, loader string) error {
	size := b.espSize()
	step := "formatting EFI system partition"
	if _, err := run(ctx, step, "mkfs.fat", "-C", "-F", "32", "-n", espLabel, file, strings.TrimSuffix(kib(size), "k")); err != nil {
		return err
	}
	step = "installing systemd-boot"
	if _, err := run(ctx, step, "mmd", "-i", file, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"); err != nil {
		return err
	}
	k := b.kernel
	entry := entryName(b.req.Name)
	conf := filepath.Join(b.tmp, "loader.conf")
	if err := os.WriteFile(conf, []byte("default "+entry+"\ntimeout 0\neditor no\n"), 0o644); err != nil {
		return err
	}
	ent := filepath.Join(b.tmp, entry)
	text := fmt.Sprintf("title %s\nversion %s\nlinux /vmlinuz-%s\ninitrd /initrd.img-%s\noptions %s\n",
		b.req.Name, k.version, k.version, k.version, KernelOptions)
	if err := os.WriteFile(ent, []byte(text), 0o644); err != nil {
		return err
	}
	copies := []struct{ step, from, to string }{
		{step, loader, "::/EFI/BOOT/BOOTX64.EFI"},
		{step, conf, "::/loader/loader.conf"},
		{step, ent, "::/loader/entries/" + entry},
		{"copying the kernel to the EFI system partition", k.vmlinuz, "::/vmlinuz-" + k.version},
		{"copying the initrd to the EFI system partition", k.initrd, "::/initrd.img-" + k.version},
	}
	for _, c := range copies {
		if _, err := run(ctx, c.step, "mcopy", "-i", file, c.from, c.to); err != nil {
			return err
		}
	}
	return nil
}
