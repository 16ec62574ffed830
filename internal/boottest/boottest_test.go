package boottest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// need skips a test when a tool is missing, except in CI, where it fails.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: %v", tool, err)
			}
			t.Skipf("%s is missing: %v", tool, err)
		}
	}
}

// fakeQEMU writes a shell script that stands in for qemu-system-x86_64:
// body runs with $DIR set to a directory the test can look into. Every
// fake starts a child (a sleep) and records its pid, to check that Boot
// leaves no process behind.
func fakeQEMU(t *testing.T, body string) (cfg Config, dir string) {
	t.Helper()
	need(t, "qemu-img")
	dir = t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nDIR=%q\nsleep 300 &\necho $! > \"$DIR/child.pid\"\necho \"$@\" > \"$DIR/args\"\n%s\n", dir, body)
	qemu := filepath.Join(dir, "qemu")
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	code, vars := filepath.Join(dir, "code.fd"), filepath.Join(dir, "vars.fd")
	for _, f := range []string{code, vars} {
		if err := os.WriteFile(f, []byte("firmware"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Config{
		Disk: disk, WorkDir: filepath.Join(dir, "work"), QEMU: qemu, Accel: "tcg",
		FirmwareCode: code, FirmwareVars: vars, Timeout: 20 * time.Second,
	}, dir
}

// assertChildGone checks that the fake's child process was killed.
func assertChildGone(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatalf("the fake QEMU did not start its child: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return // gone, or a zombie waiting for init to reap it
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("QEMU's child %d is still running after Boot returned", pid)
}

func TestBootWaitsForAPattern(t *testing.T) {
	tests := []struct {
		name    string
		serial  string // printf format written by the fake
		pattern string
	}{
		{"login prompt", `Debian GNU/Linux 12 vm ttyS0\r\n\r\nvm login: `, "login:"},
		{"prompt in colour and split across writes", `\033[1mvm lo'; sleep 0.2; printf 'gin:\033[0m `, "login:"},
		{"systemd's target with escape sequences", `[  \033[0;32mOK\033[0m  ] Reached target \033[0;1;39mMulti-User System\033[0m.\r\n`, "Reached target Multi-User System"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := fakeQEMU(t, "printf 'BdsDxe: loading Boot0001\\r\\n'\nprintf '"+tt.serial+"'\nwait")
			res, err := Boot(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pattern != tt.pattern {
				t.Errorf("matched %q, want %q", res.Pattern, tt.pattern)
			}
			if res.Accel != "tcg" || res.Elapsed <= 0 || res.Elapsed > 10*time.Second {
				t.Errorf("accel %q, elapsed %v", res.Accel, res.Elapsed)
			}
			log, err := os.ReadFile(res.SerialLog)
			if err != nil || !strings.Contains(string(log), "BdsDxe: loading Boot0001") {
				t.Errorf("serial log %s: %q, %v", res.SerialLog, log, err)
			}
			assertChildGone(t, dir)
			if _, err := os.Stat(filepath.Join(cfg.WorkDir, "overlay.qcow2")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the overlay was left behind: %v", err)
			}
		})
	}
}

func TestBootRunsTheDiskThroughAnOverlay(t *testing.T) {
	cfg, dir := fakeQEMU(t, "printf 'login: '\nwait")
	before, _ := os.ReadFile(cfg.Disk)
	if _, err := Boot(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	for _, want := range []string{
		"-machine q35", "-accel tcg", "-m 1024", "-smp 2", "-nodefaults",
		"if=pflash,format=raw,unit=0,readonly=on,file=" + cfg.FirmwareCode,
		"if=pflash,format=raw,unit=1,file=" + filepath.Join(cfg.WorkDir, "vars.fd"),
		"format=qcow2,cache=unsafe,file=" + filepath.Join(cfg.WorkDir, "overlay.qcow2"),
	} {
		if !strings.Contains(string(args), want) {
			t.Errorf("QEMU's arguments lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(string(args), cfg.Disk) {
		t.Errorf("QEMU was given the disk itself:\n%s", args)
	}
	if after, _ := os.ReadFile(cfg.Disk); string(after) != string(before) {
		t.Error("the disk image changed")
	}
}

func TestBootFailures(t *testing.T) {
	lines := "i=1; while [ $i -le 100 ]; do printf 'line %d\\r\\n' $i; i=$((i+1)); done\n"
	tests := []struct {
		name    string
		body    string
		timeout time.Duration
		cancel  time.Duration
		is      error
		want    []string
		never   []string
	}{
		{
			name: "QEMU exits early",
			body: lines + "echo 'qemu-system-x86_64: could not load PC BIOS' >&2\nexit 1",
			is:   ErrExited,
			want: []string{"line 61\n", "line 100", "could not load PC BIOS", "exit status 1"},
			// Only the last 40 lines of the console are shown.
			never: []string{"line 60\n"},
		},
		{
			name:    "no pattern in time",
			body:    lines + "wait",
			timeout: time.Second,
			is:      ErrTimeout,
			want:    []string{"line 100", `none of ["login:"`, "within 1s"},
		},
		{
			name:   "canceled",
			body:   lines + "wait",
			cancel: 300 * time.Millisecond,
			is:     context.Canceled,
			want:   []string{"line 100", "canceled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := fakeQEMU(t, tt.body)
			if tt.timeout != 0 {
				cfg.Timeout = tt.timeout
			}
			ctx := context.Background()
			if tt.cancel != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tt.cancel, cancel)
				defer cancel()
			}
			start := time.Now()
			_, err := Boot(ctx, cfg)
			if !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want %v", err, tt.is)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Boot took %v to give up", took)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error has %q:\n%v", n, err)
				}
			}
			assertChildGone(t, dir)
		})
	}
}

func TestBootFallsBackToTCGWhenKVMFails(t *testing.T) {
	cfg, dir := fakeQEMU(t, `case "$*" in
*"-accel kvm"*) echo 'KVM internal error. Suberror: 1' >&2; echo 'emulation failure' >&2; wait;;
*) printf 'vm login: '; wait;;
esac`)
	cfg, err := prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	res, err := bootFallback(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accel != "tcg" || !strings.Contains(res.KVMFailed, "KVM internal error") {
		t.Errorf("accel %q, KVM failure %q: want tcg after a KVM internal error", res.Accel, res.KVMFailed)
	}
	assertChildGone(t, dir)
}

func TestBootChecksItsConfig(t *testing.T) {
	cfg, _ := fakeQEMU(t, "exit 0")
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no disk", func(c *Config) { c.Disk = "" }, "no disk or no work directory given"},
		{"missing disk", func(c *Config) { c.Disk += ".missing" }, "disk.qcow2.missing"},
		{"missing firmware", func(c *Config) { c.FirmwareCode += ".missing" }, "Debian package ovmf"},
		{"unknown accelerator", func(c *Config) { c.Accel = "hvf" }, `accelerator "hvf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.edit(&c)
			_, err := Boot(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestConsoleTail(t *testing.T) {
	c := &console{found: make(chan string, 1)}
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(c, "\x1b[2Jline %d\r\n", i)
	}
	c.Write([]byte("vm log"))
	got := c.tail(3)
	if want := "line 299\nline 300\nvm log"; got != want {
		t.Errorf("tail:\n%s\nwant:\n%s", got, want)
	}
}
