package specrun

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// fspec makes a file entry from key/value pairs, each on its own line from line 10 on.
func fspec(path string, kv ...string) model.FileSpec {
	f := model.FileSpec{Path: v(path, 10)}
	for i := 0; i < len(kv); i += 2 {
		val := v(kv[i+1], 11+i/2)
		switch kv[i] {
		case "type":
			f.Type = val
		case "mode":
			f.Mode = val
		case "owner":
			f.Owner = val
		case "group":
			f.Group = val
		case "contains":
			f.Contains = val
		default:
			panic(kv[i])
		}
	}
	return f
}

func TestFiles(t *testing.T) {
	root := fixture(t)
	uid, gid := ids()
	keeper, keepers := fmt.Sprintf("keeper (%d)", uid), fmt.Sprintf("keepers (%d)", gid)
	tests := []struct {
		name string
		spec model.FileSpec
		want []outcome
	}{
		{"a file as the spec says", fspec("/etc/chrony/chrony.conf", "mode", "0644", "owner", "keeper", "group", "keepers", "contains", `^sourcedir /etc/chrony/sources\.d$`), []outcome{
			ok("file /etc/chrony/chrony.conf: is a regular file"),
			ok("file /etc/chrony/chrony.conf: mode 0644"),
			ok("file /etc/chrony/chrony.conf: owner " + keeper),
			ok("file /etc/chrony/chrony.conf: group " + keepers),
			ok(`file /etc/chrony/chrony.conf: contains /^sourcedir /etc/chrony/sources\.d$/ at line 2`),
		}},
		{"every attribute wrong", fspec("/etc/ssh/sshd_config.d/50-hardening.conf", "mode", "0644", "owner", "_chrony", "group", "_chrony", "contains", "^PasswordAuthentication yes$"), []outcome{
			ok("file /etc/ssh/sshd_config.d/50-hardening.conf: is a regular file"),
			fail("file /etc/ssh/sshd_config.d/50-hardening.conf: mode want 0644, got 0600"),
			fail("file /etc/ssh/sshd_config.d/50-hardening.conf: owner want _chrony, got " + keeper),
			fail("file /etc/ssh/sshd_config.d/50-hardening.conf: group want _chrony, got " + keepers),
			fail("file /etc/ssh/sshd_config.d/50-hardening.conf: contains want /^PasswordAuthentication yes$/, no line matches in 2 lines"),
		}},
		{"a name only the host knows", fspec("/etc/motd", "owner", "daemon", "group", "adm"), []outcome{
			ok("file /etc/motd: is a regular file"),
			fail("file /etc/motd: owner want daemon, which is not in the image's /etc/passwd (got " + keeper + ")"),
			fail("file /etc/motd: group want adm, which is not in the image's /etc/group (got " + keepers + ")"),
		}},
		{"an id", fspec("/etc/motd", "owner", fmt.Sprint(uid)), []outcome{
			ok("file /etc/motd: is a regular file"),
			ok("file /etc/motd: owner " + keeper),
		}},
		{"setuid", fspec("/usr/bin/sudo", "mode", "4755"), []outcome{
			ok("file /usr/bin/sudo: is a regular file"),
			ok("file /usr/bin/sudo: mode 4755"),
		}},
		{"setuid missing", fspec("/usr/bin/sudo", "mode", "0755"), []outcome{
			ok("file /usr/bin/sudo: is a regular file"),
			fail("file /usr/bin/sudo: mode want 0755, got 4755"),
		}},
		{"empty file", fspec("/etc/motd", "contains", "^Welcome"), []outcome{
			ok("file /etc/motd: is a regular file"),
			fail("file /etc/motd: contains want /^Welcome/, no line matches in 0 lines"),
		}},
		{"missing: one failure, attributes not checked", fspec("/etc/chrony/chrony.keys", "mode", "0640", "contains", "."), []outcome{
			fail("file /etc/chrony/chrony.keys: want a regular file, does not exist"),
		}},
		{"a directory", fspec("/etc/cluster", "type", "directory", "mode", "0755"), []outcome{
			ok("file /etc/cluster: is a directory"),
			ok("file /etc/cluster: mode 0755"),
		}},
		{"a directory where a file is wanted", fspec("/etc/cluster", "contains", "x"), []outcome{
			fail("file /etc/cluster: want a regular file, got a directory"),
			fail("file /etc/cluster: contains want /x/, got a directory, not a regular file"),
		}},
		{"a file where a directory is wanted", fspec("/etc/motd", "type", "directory"), []outcome{
			fail("file /etc/motd: want a directory, got a regular file"),
		}},
		{"a path through a file", fspec("/etc/motd/x"), []outcome{
			fail("file /etc/motd/x: want a regular file, does not exist (a component of the path is not a directory)"),
		}},

		// links
		{"the link itself", fspec("/etc/zookeeper/conf", "type", "symlink"), []outcome{
			ok("file /etc/zookeeper/conf: is a symlink to /etc/alternatives/zookeeper-conf"),
		}},
		{"a link is not a directory when a link is wanted", fspec("/etc/cluster", "type", "symlink"), []outcome{
			fail("file /etc/cluster: want a symlink, got a directory"),
		}},
		{"absolute links followed inside the root", fspec("/etc/zookeeper/conf", "type", "directory"), []outcome{
			ok("file /etc/zookeeper/conf: is a directory (through the symlink to /etc/alternatives/zookeeper-conf)"),
		}},
		{"a file under absolute links", fspec("/etc/zookeeper/conf/zoo.cfg", "contains", `^admin\.enableServer=false$`), []outcome{
			ok("file /etc/zookeeper/conf/zoo.cfg: is a regular file"),
			ok(`file /etc/zookeeper/conf/zoo.cfg: contains /^admin\.enableServer=false$/ at line 2`),
		}},
		{"contains reads through a link checked as a link", fspec("/etc/passwd-link", "type", "symlink", "contains", "^keeper:"), []outcome{
			ok("file /etc/passwd-link: is a symlink to ../../../../../../../../etc/passwd"),
			ok("file /etc/passwd-link: contains /^keeper:/ at line 1"),
		}},
		{"a relative link out of the root stops at it", fspec("/etc/leak", "contains", "SECRET"), []outcome{
			fail("file /etc/leak: want a regular file, got a symlink to ../../secret, which does not exist"),
		}},
		{"an absolute host path is the image's", fspec("/etc/leak-absolute", "type", "symlink", "contains", "SECRET"), []outcome{
			ok("file /etc/leak-absolute: is a symlink to " + filepath.Join(filepath.Dir(root), "secret")),
			fail("file /etc/leak-absolute: contains want /SECRET/, does not exist"),
		}},
		{"the host's shadow file is not the image's", fspec("/etc/shadow-link", "contains", "^root:"), []outcome{
			fail("file /etc/shadow-link: want a regular file, got a symlink to ../../../../../../../../etc/shadow, which does not exist"),
		}},
		{"a dangling link", fspec("/etc/resolv.conf"), []outcome{
			fail("file /etc/resolv.conf: want a regular file, got a symlink to ../run/systemd/resolve/stub-resolv.conf, which does not exist"),
		}},
		{"a dangling link checked as a link", fspec("/etc/resolv.conf", "type", "symlink"), []outcome{
			ok("file /etc/resolv.conf: is a symlink to ../run/systemd/resolve/stub-resolv.conf"),
		}},
		{"a loop", fspec("/etc/loop1"), []outcome{
			fail("file /etc/loop1: want a regular file, got a symlink to /etc/loop2, which cannot be reached: too many levels of symbolic links"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, &model.ImageSpec{Files: []model.FileSpec{tt.spec}}, Target{Root: root}, tt.want...)
		})
	}
}

// TestFilePositions checks each result points at the key that states what it checks, so that
// an annotation lands on the line to fix.
func TestFilePositions(t *testing.T) {
	root := fixture(t)
	spec := &model.ImageSpec{Files: []model.FileSpec{
		fspec("/etc/ssh/sshd_config.d/50-hardening.conf", "mode", "0644", "owner", "_chrony", "group", "_chrony", "contains", "^x$"),
		fspec("/etc/nothing"),
		fspec("/etc/cluster", "type", "symlink"),
	}}
	rep := Run(t.Context(), spec, Target{Root: root})
	var got []string
	for _, r := range rep.Results {
		got = append(got, fmt.Sprintf("%s %s %d", r.Subject, r.Check, r.Pos.Line))
	}
	want := []string{
		"/etc/ssh/sshd_config.d/50-hardening.conf type 10",
		"/etc/ssh/sshd_config.d/50-hardening.conf mode 11",
		"/etc/ssh/sshd_config.d/50-hardening.conf owner 12",
		"/etc/ssh/sshd_config.d/50-hardening.conf group 13",
		"/etc/ssh/sshd_config.d/50-hardening.conf contains 14",
		"/etc/nothing type 10",
		"/etc/cluster type 11",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestFileOwnedByUnnamedID needs root, to give a file an owner nobody in the image has.
func TestFileOwnedByUnnamedID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change a file's owner")
	}
	root := fixture(t)
	if err := os.Lchown(filepath.Join(root, "etc/motd"), 4242, 4343); err != nil {
		t.Fatal(err)
	}
	check(t, &model.ImageSpec{Files: []model.FileSpec{fspec("/etc/motd", "owner", "root", "group", "root")}}, Target{Root: root},
		ok("file /etc/motd: is a regular file"),
		fail("file /etc/motd: owner want root, got uid 4242 (no name in the image)"),
		fail("file /etc/motd: group want root, got gid 4343 (no name in the image)"),
	)
}

func TestResolve(t *testing.T) {
	root := fixture(t)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs := rootFS{root: r}
	tests := []struct {
		path       string
		followLast bool
		want       string
		err        string
	}{
		{"/", true, ".", ""},
		{"/etc/zookeeper/conf", false, "etc/zookeeper/conf", ""},
		{"/etc/zookeeper/conf", true, "usr/share/zookeeper/conf_example", ""},
		{"/etc/zookeeper/conf/zoo.cfg", false, "usr/share/zookeeper/conf_example/zoo.cfg", ""},
		{"/etc/zookeeper/conf/../conf/zoo.cfg", true, "usr/share/zookeeper/conf_example/zoo.cfg", ""},
		{"/../../etc/motd", true, "etc/motd", ""},
		{"/lib/systemd/system/ssh.service", true, "usr/lib/systemd/system/ssh.service", ""},
		{"/etc/leak", true, "secret", "no such file or directory"},
		{"/etc/loop1", true, "etc/loop1", "too many levels of symbolic links"},
		{"/etc/loop1", false, "etc/loop1", ""},
		{"/etc/motd/x", true, "etc/motd", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s,%v", tt.path, tt.followLast), func(t *testing.T) {
			got, err := fs.resolve(tt.path, tt.followLast)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.err {
				t.Errorf("got %q, %q; want %q, %q", got, gotErr, tt.want, tt.err)
			}
		})
	}
}
