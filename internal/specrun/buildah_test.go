package specrun

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildahRunner runs commands in a working container, as the image pipeline does.
type buildahRunner struct {
	global    []string // --root, --runroot, --storage-driver
	container string
}

func (b buildahRunner) Run(ctx context.Context, argv []string) (int, []byte, []byte, error) {
	args := append(append(append([]string{}, b.global...), "run", "--isolation", "chroot", b.container, "--"), argv...)
	cmd := exec.CommandContext(ctx, "buildah", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ctx.Err() == nil {
		return ee.ExitCode(), stdout.Bytes(), stderr.Bytes(), nil
	}
	return 0, stdout.Bytes(), stderr.Bytes(), err
}

// staticBusybox returns the path of a statically linked busybox (Debian's busybox-static), or
// "" when there is none: a dynamic one would not run in an image with no libc.
func staticBusybox() string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	return ""
}

// TestBuildah checks a real image: a container made from scratch with a static busybox, its
// files read from `buildah mount`, its commands run with `buildah run`.
func TestBuildah(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah is not installed")
	}
	busybox := staticBusybox()
	if busybox == "" {
		t.Skip("no static busybox (Debian's busybox-static) to put in the image")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah with the vfs driver and chroot isolation needs root here")
	}
	dir := t.TempDir()
	global := []string{"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	buildah := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "buildah", append(append([]string{}, global...), args...)...).Output()
		if err != nil {
			msg := err.Error()
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				msg += ": " + string(ee.Stderr)
			}
			t.Fatalf("buildah %s: %s", strings.Join(args, " "), msg)
		}
		return strings.TrimSpace(string(out))
	}
	ctr := buildah("from", "--name", "specrun-test", "scratch")
	t.Cleanup(func() {
		_ = exec.Command("buildah", append(append([]string{}, global...), "rm", ctr)...).Run()
	})
	buildah("add", "--chmod", "0755", ctr, busybox, "/bin/busybox")
	root := buildah("mount", ctr)
	makeTree(t, root,
		link("bin/sh", "busybox"),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"),
		file("etc/group", "root:x:0:\ndaemon:x:1:\nadm:x:4:daemon\n"),
		file("etc/motd", "Welcome to the test image\n"),
		file("var/lib/dpkg/status", "Package: busybox-static\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.35.0-4+deb12u1\n"),
		file("usr/lib/systemd/system/motd.service", "[Service]\nExecStart=/bin/cat /etc/motd\n[Install]\nWantedBy=multi-user.target\n"),
		link("etc/systemd/system/multi-user.target.wants/motd.service", "/usr/lib/systemd/system/motd.service"),
	)

	spec := loadSpec(t, "busybox", `image: busybox
packages:
  - name: busybox-static
files:
  - path: /bin/sh
    type: symlink
  - path: /bin/busybox
    mode: "0755"
    owner: root
    group: root
  - path: /etc/motd
    contains: '^Welcome'
services:
  - unit: motd.service
    state: enabled
users:
  - name: daemon
    groups: [daemon, adm]
commands:
  - run: echo hello; echo oops >&2; exit 3
    exit_status: 3
    stdout: '^hello$'
    stderr: '^oops$'
  - run: busybox | head -n 1
    stdout: '^BusyBox v1\.'
  - run: cat /etc/motd
    stdout: '^Welcome to the test image$'
  - run: cat /etc/no-such-file
    exit_status: 0
`)
	rep := Run(t.Context(), spec, Target{Root: root, Runner: buildahRunner{global: global, container: ctr}})
	t.Logf("%d checks, %d commands, in %s:\n%s", rep.Summary.Checks, len(spec.Commands), rep.Duration, rep.Text())

	want := []outcome{
		ok("package busybox-static: installed, version 1:1.35.0-4+deb12u1"),
		ok("file /bin/sh: is a symlink to busybox"),
		ok("file /bin/busybox: is a regular file"),
		ok("file /bin/busybox: mode 0755"),
		ok("file /bin/busybox: owner root (0)"),
		ok("file /bin/busybox: group root (0)"),
		ok("file /etc/motd: is a regular file"),
		ok("file /etc/motd: contains /^Welcome/ at line 1"),
		ok("unit motd.service: enabled (symlink in multi-user.target.wants)"),
		ok("user daemon: exists, uid 1"),
		ok("user daemon: member of group daemon"),
		ok("user daemon: member of group adm"),
		ok("command `echo hello; echo oops >&2; exit 3`: exit status 3"),
		ok("command `echo hello; echo oops >&2; exit 3`: stdout matches /^hello$/: 'hello'"),
		{true, ""}, // stderr: buildah adds its own lines after the command's
		ok("command `busybox | head -n 1`: exit status 0"),
		{true, ""}, // the version of busybox installed
		ok("command `cat /etc/motd`: exit status 0"),
		ok("command `cat /etc/motd`: stdout matches /^Welcome to the test image$/: 'Welcome to the test image'"),
		{false, "command `cat /etc/no-such-file`: exit status want 0, got 1 (stderr 'cat: can't open '/etc/no-such-file': No such file or directory'"},
	}
	got := outcomes(rep.Results)
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d:\n%s", len(got), len(want), show(got))
	}
	for i, w := range want {
		g := got[i]
		if g.passed != w.passed || !strings.HasPrefix(g.message, w.message) {
			t.Errorf("result %d:\ngot  %s\nwant %s", i, showOne(g), showOne(w))
		}
	}
}
