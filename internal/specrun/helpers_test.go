package specrun

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// node is one entry of a fixture tree: a file with content and mode, a directory, or a link.
type node struct {
	path    string
	content string
	mode    fs.FileMode
	dir     bool
	link    string
}

func file(p, content string) node                    { return node{path: p, content: content, mode: 0o644} }
func fileMode(p, content string, m fs.FileMode) node { return node{path: p, content: content, mode: m} }
func dir(p string, m fs.FileMode) node               { return node{path: p, dir: true, mode: m} }
func link(p, target string) node                     { return node{path: p, link: target} }

// makeTree writes nodes under dir, with exactly the modes given (whatever the umask).
func makeTree(t *testing.T, root string, nodes ...node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(root, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.link != "":
			err = os.Symlink(n.link, p)
		case n.dir:
			if err = os.MkdirAll(p, n.mode); err == nil {
				err = os.Chmod(p, n.mode)
			}
		default:
			if err = os.WriteFile(p, []byte(n.content), n.mode); err == nil {
				err = os.Chmod(p, n.mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ids are the owner and group the test's own files get. The fixture image calls them "keeper"
// and "keepers", names no host has, so that a message naming them shows the image's
// /etc/passwd was read and not the host's.
func ids() (uid, gid int) { return os.Getuid(), os.Getgid() }

// fixture builds an image root with a bit of everything the checks look at, and returns it.
// The root sits in its own folder next to a file, secret, that links in the image point to
// and must never be read.
func fixture(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "root")
	uid, gid := ids()
	makeTree(t, top, file("secret", "HOST SECRET\n"))
	makeTree(t, root,
		file("var/lib/dpkg/status", dpkgFixture),
		file("etc/passwd", fmt.Sprintf(`keeper:x:%d:%d:owns the fixture's files:/:/bin/sh
root:x:0:0:root:/root:/bin/bash
_chrony:x:105:110:Chrony daemon,,,:/var/lib/chrony:/usr/sbin/nologin
alice:x:1001:1001::/home/alice:/bin/sh
bob:x:1002:998::/home/bob:/bin/sh
`, uid, gid)),
		file("etc/group", fmt.Sprintf(`keepers:x:%d:
root:x:0:
_chrony:x:110:
docker:x:998:alice
sudo:x:27:bob,carol
`, gid)),

		// files
		fileMode("etc/ssh/sshd_config.d/50-hardening.conf", "PasswordAuthentication no\nPermitRootLogin no\n", 0o600),
		file("etc/chrony/chrony.conf", "pool 2.debian.pool.ntp.org iburst\nsourcedir /etc/chrony/sources.d\n"),
		dir("etc/cluster", 0o755),
		fileMode("usr/bin/sudo", "", fs.ModeSetuid|0o755),
		file("etc/motd", ""),
		// ZooKeeper's configuration, reached through two absolute links, as alternatives make it.
		file("usr/share/zookeeper/conf_example/zoo.cfg", "tickTime=2000\nadmin.enableServer=false\n"),
		link("etc/zookeeper/conf", "/etc/alternatives/zookeeper-conf"),
		link("etc/alternatives/zookeeper-conf", "/usr/share/zookeeper/conf_example"),
		// Links that lead out of the root on the host, and must stay inside it here.
		link("etc/leak", "../../secret"),
		link("etc/leak-absolute", filepath.Join(top, "secret")),
		link("etc/shadow-link", "../../../../../../../../etc/shadow"),
		link("etc/passwd-link", "../../../../../../../../etc/passwd"),
		link("etc/loop1", "/etc/loop2"),
		link("etc/loop2", "loop1"),
		link("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"),

		// units: merged /usr, as Debian's images are
		link("lib", "usr/lib"),
		file("usr/lib/systemd/system/ssh.service", "[Unit]\nDescription=OpenBSD Secure Shell server\n[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n"),
		file("usr/lib/systemd/system/apt-daily.timer", "[Timer]\nOnCalendar=*-*-* 6,18:00\n[Install]\nWantedBy=timers.target\n"),
		file("usr/lib/systemd/system/apt-daily-upgrade.timer", "[Timer]\nOnCalendar=*-*-* 6:00\n[Install]\nWantedBy=timers.target\n"),
		file("usr/lib/systemd/system/systemd-networkd.service", "[Service]\nExecStart=!!/lib/systemd/systemd-networkd\n[Install]\nWantedBy=multi-user.target\nAlso=systemd-networkd.socket\n"),
		file("usr/lib/systemd/system/systemd-resolved.service", "[Service]\nExecStart=!!/lib/systemd/systemd-resolved\n\n[Install]\n# only an alias: what `systemctl enable` makes is the alias link\nAlias=dbus-org.freedesktop.resolve1.service\n"),
		file("usr/lib/systemd/system/getty@.service", "[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n"),
		file("usr/lib/systemd/system/systemd-logind.service", "[Unit]\nDescription=User Login Management\n[Service]\nExecStart=/lib/systemd/systemd-logind\n"),
		link("usr/lib/systemd/system/multi-user.target.wants/systemd-logind.service", "../systemd-logind.service"),
		link("usr/lib/systemd/system/dbus-org.freedesktop.login1.service", "systemd-logind.service"),
		file("usr/lib/systemd/system/systemd-update-done.service", "[Unit]\nDescription=Update is Completed\n[Service]\nType=oneshot\n"),
		file("usr/lib/systemd/system/remote-cryptsetup.target", "[Unit]\nDescription=Remote Encrypted Volumes\n[Install]\nWantedBy=remote-fs.target\n"),
		link("usr/lib/systemd/system/initrd-root-device.target.wants/remote-cryptsetup.target", "../remote-cryptsetup.target"),
		link("usr/lib/systemd/system/hwclock.service", "/dev/null"),
		file("usr/lib/systemd/system/empty.service", ""),
		link("etc/systemd/system/multi-user.target.wants/ssh.service", "/lib/systemd/system/ssh.service"),
		link("etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service"),
		link("etc/systemd/system/timers.target.wants/apt-daily.timer", "/lib/systemd/system/apt-daily.timer"),
		link("etc/systemd/system/apt-daily-upgrade.timer", "/dev/null"),
		link("etc/systemd/system/dbus-org.freedesktop.resolve1.service", "/lib/systemd/system/systemd-resolved.service"),
		link("etc/systemd/system/getty.target.wants/getty@tty1.service", "/lib/systemd/system/getty@.service"),
		link("etc/systemd/system/getty@tty4.service", "/dev/null"),
		link("etc/systemd/system/systemd-logind.service", "/dev/null"),
		file("etc/systemd/system/mesos-slave.service", "[Service]\nExecStart=/usr/sbin/mesos-agent\n[Install]\nWantedBy=multi-user.target\n"),
		link("etc/systemd/system/broken.service", "/opt/nowhere.service"),
	)
	return root
}

const dpkgFixture = `Package: chrony
Status: install ok installed
Priority: optional
Section: net
Architecture: amd64
Version: 4.3-2+deb12u2
Description: Versatile implementation of the Network Time Protocol
 It can synchronise the system clock with NTP servers.
 Package: fake-continuation

Package: openssh-server
Status: install ok installed
Architecture: amd64
Version: 1:9.2p1-2+deb12u10

Package: nano
Status: deinstall ok config-files
Architecture: amd64
Version: 7.2-1

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u10

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u9

Package: vim
Status: hold ok installed
Architecture: amd64
Version: 2:9.0.1378-2
`

// outcome is what a test expects of one result.
type outcome struct {
	passed  bool
	message string
}

func outcomes(rs []Result) []outcome {
	var out []outcome
	for _, r := range rs {
		out = append(out, outcome{r.Passed, r.Message})
	}
	return out
}

func ok(message string) outcome   { return outcome{true, message} }
func fail(message string) outcome { return outcome{false, message} }

// check runs spec against root and compares every result's verdict and message.
func check(t *testing.T, spec *model.ImageSpec, target Target, want ...outcome) Report {
	t.Helper()
	rep := Run(context.Background(), spec, target)
	got := outcomes(rep.Results)
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d:\n%s", len(got), len(want), show(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\ngot  %s\nwant %s", i, showOne(got[i]), showOne(want[i]))
		}
	}
	return rep
}

func showOne(o outcome) string {
	if o.passed {
		return "ok   " + o.message
	}
	return "FAIL " + o.message
}

func show(os []outcome) string {
	var b strings.Builder
	for _, o := range os {
		b.WriteString(showOne(o) + "\n")
	}
	return b.String()
}

// v makes a value read from line of a spec file.
func v[T any](x T, line int) model.Value[T] {
	return model.Value[T]{V: x, Pos: model.Pos{File: "specs/images/test.yaml", Line: line, Col: 3}}
}
