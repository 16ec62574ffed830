// Package boottest boots a whole-disk image in QEMU with UEFI firmware and
// waits for it to come up, so an image is known to boot before Ironic puts
// it on a machine. The image itself is never written to: the machine runs
// on a throwaway overlay.
package boottest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPatterns are what Boot waits for when Config.Patterns is empty: a
// getty's prompt, or systemd reaching multi-user (older and newer wording).
func DefaultPatterns() []string {
	return []string{"login:", "Reached target multi-user.target", "Reached target Multi-User System"}
}

// Firmware paths of Debian's ovmf package.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Config says what to boot and how long to wait.
type Config struct {
	// Disk is the qcow2 whole-disk image; it is only read.
	Disk string
	// WorkDir receives the overlay, the firmware variables and the serial
	// log; it must be set. The serial log stays; the rest is removed.
	WorkDir string
	// Timeout bounds the wait for a pattern; zero means 5 minutes.
	Timeout time.Duration
	// Patterns are substrings of the serial console output (escape
	// sequences removed) that mean the machine is up; empty means
	// DefaultPatterns().
	Patterns []string
	// MemoryMiB is the guest's memory; zero means 1024.
	MemoryMiB int
	// CPUs is the guest's processor count; zero means 2 (under TCG, two
	// boot Debian about 15% faster than one).
	CPUs int
	// Accel is "kvm" or "tcg"; empty means KVM when /dev/kvm opens, and
	// TCG when it does not or when KVM fails to run the guest.
	Accel string
	// QEMU is the emulator binary; empty means "qemu-system-x86_64".
	QEMU string
	// FirmwareCode and FirmwareVars are the UEFI firmware and its variable
	// store template (copied for each run); empty means OVMFCode and
	// OVMFVars.
	FirmwareCode, FirmwareVars string
}

// Result is a boot that came up.
type Result struct {
	Elapsed   time.Duration // from starting QEMU to the pattern
	Pattern   string        // the pattern that matched
	SerialLog string        // path of the full serial console output
	Accel     string        // "kvm" or "tcg"
	// KVMFailed says why KVM was given up for TCG; empty when it was not.
	KVMFailed string
}

// ErrTimeout is matched (errors.Is) when no pattern showed in time.
var ErrTimeout = errors.New("no boot pattern on the serial console in time")

// ErrExited is matched when QEMU stopped before a pattern showed.
var ErrExited = errors.New("QEMU exited before the machine came up")

// Boot boots cfg.Disk and waits for one of the patterns on its serial
// console. QEMU is killed, with everything it started, before Boot returns.
// An error carries the end of the serial console and QEMU's standard error.
func Boot(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := prepare(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("boot test: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	switch cfg.Accel {
	case "kvm", "tcg":
		return boot(ctx, cfg, cfg.Accel)
	case "":
		if kvmUsable() {
			return bootFallback(ctx, cfg)
		}
		return boot(ctx, cfg, "tcg")
	}
	return Result{}, fmt.Errorf("boot test: accelerator %q is neither kvm nor tcg", cfg.Accel)
}

// prepare fills in the defaults and checks that the files are there.
func prepare(cfg Config) (Config, error) {
	if cfg.Disk == "" || cfg.WorkDir == "" {
		return cfg, errors.New("no disk or no work directory given")
	}
	disk, err := filepath.Abs(cfg.Disk)
	if err != nil {
		return cfg, err
	}
	if _, err := os.Stat(disk); err != nil {
		return cfg, err
	}
	cfg.Disk = disk
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if len(cfg.Patterns) == 0 {
		cfg.Patterns = DefaultPatterns()
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	if cfg.FirmwareCode == "" {
		cfg.FirmwareCode = OVMFCode
	}
	if cfg.FirmwareVars == "" {
		cfg.FirmwareVars = OVMFVars
	}
	for _, f := range []string{cfg.FirmwareCode, cfg.FirmwareVars} {
		if _, err := os.Stat(f); err != nil {
			return cfg, fmt.Errorf("UEFI firmware (Debian package ovmf): %w", err)
		}
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// bootFallback boots with KVM and, if KVM itself fails, again with TCG in
// the time left.
func bootFallback(ctx context.Context, cfg Config) (Result, error) {
	res, err := boot(ctx, cfg, "kvm")
	var kf *kvmFailure
	if errors.As(err, &kf) {
		res, err = boot(ctx, cfg, "tcg")
		res.KVMFailed = kf.reason
	}
	return res, err
}

// kvmUsable tells whether /dev/kvm can be opened for writing. Some nested
// setups pass that test and fail to run a guest; Boot then falls back.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// kvmFailure is QEMU failing because of KVM, not because of the image.
type kvmFailure struct{ reason, stderr string }

func (k *kvmFailure) Error() string {
	return "KVM cannot run the guest: " + k.reason + "\n--- QEMU standard error ---\n" + k.stderr
}

// kvmErrors are what QEMU writes when KVM itself fails; the guest may be
// left paused, so they must be watched for rather than waited out.
func kvmErrors() []string {
	return []string{"KVM internal error", "failed to initialize kvm", "kvm_buf_set_msrs", "Could not access KVM kernel module"}
}

func boot(ctx context.Context, cfg Config, accel string) (Result, error) {
	res := Result{SerialLog: filepath.Join(cfg.WorkDir, "serial.log"), Accel: accel}
	overlay := filepath.Join(cfg.WorkDir, "overlay.qcow2")
	vars := filepath.Join(cfg.WorkDir, "vars.fd")
	defer os.Remove(overlay)
	defer os.Remove(vars)
	if err := copyFile(cfg.FirmwareVars, vars); err != nil {
		return res, fmt.Errorf("boot test: copying firmware variables: %w", err)
	}
	os.Remove(overlay)
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", cfg.Disk, "-F", "qcow2", overlay).CombinedOutput(); err != nil {
		return res, fmt.Errorf("boot test: creating the overlay: qemu-img: %w: %s", err, bytes.TrimSpace(out))
	}
	log, err := os.Create(res.SerialLog)
	if err != nil {
		return res, fmt.Errorf("boot test: %w", err)
	}
	defer log.Close()

	args := []string{
		"-machine", "q35", "-accel", accel,
		"-m", fmt.Sprint(cfg.MemoryMiB), "-smp", fmt.Sprint(cfg.CPUs),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + cfg.FirmwareCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-drive", "if=none,id=disk0,format=qcow2,cache=unsafe,file=" + overlay,
		"-device", "virtio-blk-pci,drive=disk0,bootindex=0",
		"-serial", "stdio",
	}
	cmd := exec.Command(cfg.QEMU, args...)
	// A process group of its own, so QEMU and anything it starts die together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pipes of our own rather than exec's: Wait must not wait for the
	// output to end, which a child still holding it could delay forever.
	outR, outW, err := os.Pipe()
	if err != nil {
		return res, err
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return res, err
	}
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	start := time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return res, fmt.Errorf("boot test: starting QEMU (Debian package qemu-system-x86): %w", err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	con := &console{patterns: cfg.Patterns, found: make(chan string, 1)}
	stderr := &watched{patterns: kvmErrors(), found: make(chan string, 1)}
	var copies sync.WaitGroup
	copies.Go(func() { io.Copy(io.MultiWriter(log, con), outR) })
	copies.Go(func() { io.Copy(stderr, errR) })
	// stop kills the whole group and waits for QEMU and the end of its output.
	var exitErr error
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		syscall.Kill(-pgid, syscall.SIGKILL)
		exitErr = <-exited
		copies.Wait()
	}
	defer stop()

	up := func(p string) (Result, error) {
		res.Elapsed = time.Since(start)
		res.Pattern = p
		stop()
		return res, nil
	}
	failure := func(what string, base error) error {
		return fmt.Errorf("boot test of %s (%s): %s: %w\n--- serial console, last lines ---\n%s\n--- QEMU standard error ---\n%s",
			filepath.Base(cfg.Disk), accel, what, base, con.tail(40), strings.TrimSpace(stderr.String()))
	}
	select {
	case p := <-con.found:
		return up(p)
	case reason := <-stderr.found:
		stop()
		return res, &kvmFailure{reason: reason, stderr: strings.TrimSpace(stderr.String())}
	case err := <-exited:
		exited <- err // for stop
		stop()
		// The pattern may have come with the last bytes before the exit.
		select {
		case p := <-con.found:
			return up(p)
		default:
		}
		if accel == "kvm" && strings.Contains(strings.ToLower(stderr.String()), "kvm") {
			return res, &kvmFailure{reason: lastLine(stderr.String()), stderr: strings.TrimSpace(stderr.String())}
		}
		res.Elapsed = time.Since(start)
		return res, failure(fmt.Sprintf("QEMU exited after %s (%v)", res.Elapsed.Round(time.Millisecond), exitErr), ErrExited)
	case <-ctx.Done():
		stop()
		res.Elapsed = time.Since(start)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, failure(fmt.Sprintf("none of %q within %s", cfg.Patterns, cfg.Timeout), ErrTimeout)
		}
		return res, failure("canceled", ctx.Err())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// watched is QEMU's standard error, kept whole and watched for patterns.
type watched struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	patterns []string
	found    chan string
	done     bool
}

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done {
		for _, pat := range w.patterns {
			if bytes.Contains(w.buf.Bytes(), []byte(pat)) {
				w.done = true
				w.found <- pat
				break
			}
		}
	}
	return len(p), nil
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
