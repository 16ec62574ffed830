package specrun

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/specrun/specruntest"
)

// cmd makes a command entry: run on line 40, exit_status on 41, stdout on 42, stderr on 43.
// An exit status below zero, or an empty pattern, is left out.
func cmd(run string, exit int, stdout, stderr string) model.CommandSpec {
	c := model.CommandSpec{Run: v(run, 40)}
	if exit >= 0 {
		c.ExitStatus = v(exit, 41)
	}
	if stdout != "" {
		c.Stdout = v(stdout, 42)
	}
	if stderr != "" {
		c.Stderr = v(stderr, 43)
	}
	return c
}

func TestCommands(t *testing.T) {
	runner := &specruntest.Runner{Replies: map[string]specruntest.Reply{
		"chronyd --version":         {Stdout: "chronyd (chrony) version 4.4 (+CMDMON +NTP +REFCLOCK +RTC +PRIVDROP +SCFILTER +SIGND +ASYNCDNS +NTS +SECHASH +IPV6 -DEBUG)\n"},
		"test ! -s /etc/machine-id": {Exit: 1},
		"java -version":             {Stderr: "openjdk version \"17.0.21\" 2025-10-21\nOpenJDK Runtime Environment (build 17.0.21+6-Debian-1deb12u1)\nOpenJDK 64-Bit Server VM\n"},
		"false":                     {Exit: 2},
		"etcd --version":            {Err: errors.New("container gone")},
		"printf 'a\\tb\\033[31m'":   {Stdout: "a\tb\x1b[31m"},
	}}
	tests := []struct {
		name string
		spec model.CommandSpec
		want []outcome
	}{
		{"stdout differs", cmd("chronyd --version", 0, `^chronyd \(chrony\) version 4\.3 `, ""), []outcome{
			ok("command `chronyd --version`: exit status 0"),
			fail("command `chronyd --version`: stdout want /^chronyd \\(chrony\\) version 4\\.3 /, got 'chronyd (chrony) version 4.4 (+CMDMON +NTP +REFCLOCK +RTC +PRIVDROP +SCFILTER +SIGND +ASYNCDNS +NTS …'"),
		}},
		{"stdout matches", cmd("chronyd --version", 0, `^chronyd \(chrony\) version 4\.4 `, ""), []outcome{
			ok("command `chronyd --version`: exit status 0"),
			ok("command `chronyd --version`: stdout matches /^chronyd \\(chrony\\) version 4\\.4 /: 'chronyd (chrony) version 4.4 (+CMDMON +NTP +REFCLOCK +RTC +PRIVDROP +SCFILTER +SIGND +ASYNCDNS +NTS …'"),
		}},
		{"exit status differs", cmd("test ! -s /etc/machine-id", 0, "", ""), []outcome{
			fail("command `test ! -s /etc/machine-id`: exit status want 0, got 1"),
		}},
		{"no exit status given means 0", cmd("test ! -s /etc/machine-id", -1, "", ""), []outcome{
			fail("command `test ! -s /etc/machine-id`: exit status want 0, got 1"),
		}},
		{"a non-zero exit status wanted", cmd("false", 2, "", ""), []outcome{
			ok("command `false`: exit status 2"),
		}},
		{"not found, with stderr quoted", cmd("pdns_recursor --version", 0, "", ""), []outcome{
			fail("command `pdns_recursor --version`: exit status want 0, got 127 (stderr 'sh: 1: pdns_recursor --version: not found')"),
		}},
		{"stderr matches on a later line", cmd("java -version", 0, "", "^OpenJDK Runtime Environment"), []outcome{
			ok("command `java -version`: exit status 0"),
			ok("command `java -version`: stderr matches /^OpenJDK Runtime Environment/: 'OpenJDK Runtime Environment (build 17.0.21+6-Debian-1deb12u1)' (and 1 more line)"),
		}},
		{"stderr differs, lines counted", cmd("java -version", 0, "", `openjdk version "21`), []outcome{
			ok("command `java -version`: exit status 0"),
			fail("command `java -version`: stderr want /openjdk version \"21/, got 'openjdk version \"17.0.21\" 2025-10-21' (and 2 more lines)"),
		}},
		{"stdout empty", cmd("java -version", 0, ".", ""), []outcome{
			ok("command `java -version`: exit status 0"),
			fail("command `java -version`: stdout want /./, got nothing"),
		}},
		{"control characters escaped", cmd(`printf 'a\tb\033[31m'`, 0, "^x", ""), []outcome{
			ok("command `printf 'a\\tb\\033[31m'`: exit status 0"),
			fail("command `printf 'a\\tb\\033[31m'`: stdout want /^x/, got 'a\tb\\x1b[31m'"),
		}},
		{"runner error", cmd("etcd --version", 0, "^etcd", ""), []outcome{
			fail("command `etcd --version`: not run: container gone"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := check(t, &model.ImageSpec{Commands: []model.CommandSpec{tt.spec}}, Target{Root: t.TempDir(), Runner: runner}, tt.want...)
			lines := map[string]int{"run": 40, "exit_status": 41, "stdout": 42, "stderr": 43}
			if !tt.spec.ExitStatus.Set() {
				lines["exit_status"] = 40
			}
			for _, r := range rep.Results {
				if r.Pos.Line != lines[r.Check] {
					t.Errorf("%s result at line %d, want %d", r.Check, r.Pos.Line, lines[r.Check])
				}
			}
		})
	}
}

func TestCommandsRunInShell(t *testing.T) {
	runner := &specruntest.Runner{}
	spec := &model.ImageSpec{Commands: []model.CommandSpec{cmd("ls /etc | wc -l", 0, "", ""), cmd("true", 0, "", "")}}
	Run(t.Context(), spec, Target{Root: t.TempDir(), Runner: runner})
	want := [][]string{{"sh", "-c", "ls /etc | wc -l"}, {"sh", "-c", "true"}}
	if got := runner.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
}

func TestCommandTimeout(t *testing.T) {
	runner := &specruntest.Runner{Replies: map[string]specruntest.Reply{
		"sleep 3600": {Hang: true},
		"true":       {},
	}}
	spec := &model.ImageSpec{Commands: []model.CommandSpec{cmd("sleep 3600", 0, "", ""), cmd("true", 0, "", "")}}
	start := time.Now()
	check(t, spec, Target{Root: t.TempDir(), Runner: runner, CommandTimeout: 50 * time.Millisecond},
		fail("command `sleep 3600`: timed out after 50ms"),
		ok("command `true`: exit status 0"),
	)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestCommandsWithoutRunner(t *testing.T) {
	spec := &model.ImageSpec{Commands: []model.CommandSpec{cmd("true", 0, "", "")}}
	check(t, spec, Target{Root: t.TempDir()},
		fail("command `true`: not run: no way to run commands in the image was given"))
}

func TestCommandsCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	runner := &specruntest.Runner{}
	spec := &model.ImageSpec{Commands: []model.CommandSpec{cmd("true", 0, "", "")}}
	cancel()
	rep := Run(ctx, spec, Target{Root: t.TempDir(), Runner: runner})
	if got, want := outcomes(rep.Results), []outcome{fail("command `true`: not run: context canceled")}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := len(runner.Calls()); n != 0 {
		t.Errorf("ran %d commands after the run was canceled", n)
	}
}
