package diskimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// outputs makes the four outputs from the raw disk and the root file
// system image, with their checksums. The two conversions and the copies
// run at once: each is mostly one core's work.
func (b *builder) outputs(ctx context.Context, raw string, root region) ([]File, error) {
	out := filepath.Join(b.tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	b.progress("converting disk and root filesystem to qcow2")
	files := make([]File, 4)
	errs := make([]error, 4)
	jobs := []func() (File, error){
		func() (File, error) {
			return convert(ctx, "converting disk to qcow2", region{file: raw}, filepath.Join(out, DiskFile))
		},
		func() (File, error) {
			return convert(ctx, "converting root filesystem to qcow2", root, filepath.Join(out, RootFile))
		},
		func() (File, error) { return copyFile(b.kernel.vmlinuz, filepath.Join(out, KernelFile)) },
		func() (File, error) { return copyFile(b.kernel.initrd, filepath.Join(out, InitrdFile)) },
	}
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Go(func() { files[i], errs[i] = job() })
	}
	wg.Wait()
	for i, name := range []string{DiskFile, RootFile, KernelFile, InitrdFile} {
		if errs[i] != nil {
			return nil, errs[i]
		}
		files[i].Name = name
	}
	return files, nil
}

// convert converts a raw image, or a region of one, to qcow2, which leaves
// zero and unallocated clusters out, and checksums the result.
func convert(ctx context.Context, step string, r region, qcow2 string) (File, error) {
	src := []string{"-f", "raw", r.file}
	if r.size != 0 {
		// qemu's option syntax escapes a comma by doubling it.
		file := strings.ReplaceAll(r.file, ",", ",,")
		src = []string{"--image-opts", fmt.Sprintf("driver=raw,offset=%d,size=%d,file.driver=file,file.filename=%s", r.offset, r.size, file)}
	}
	if _, err := run(ctx, step, "qemu-img", append(append([]string{"convert"}, src...), "-O", "qcow2", qcow2)...); err != nil {
		return File{}, err
	}
	return checksum(qcow2)
}

// copyFile copies a file and checksums it on the way.
func copyFile(from, to string) (File, error) {
	in, err := os.Open(from)
	if err != nil {
		return File{}, fmt.Errorf("copying %s: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return File{}, fmt.Errorf("copying %s: %w", from, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("copying %s: %w", from, err)
	}
	return File{Path: to, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// checksum returns a file's size and sha256.
func checksum(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("checksum of %s: %w", name, err)
	}
	return File{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// publish moves the finished files into outDir, renaming when it can and
// copying (to a temporary name, then renaming) across file systems. If one
// cannot be moved, those already moved are removed.
func publish(files []File, outDir string) ([]File, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	var done []string
	out := make([]File, len(files))
	for i, f := range files {
		to := filepath.Join(outDir, f.Name)
		if err := move(f.Path, to); err != nil {
			for _, d := range done {
				os.Remove(d)
			}
			return nil, fmt.Errorf("moving %s into %s: %w", f.Name, outDir, err)
		}
		done = append(done, to)
		f.Path = to
		out[i] = f
	}
	return out, nil
}

func move(from, to string) error {
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	tmp := filepath.Join(filepath.Dir(to), "."+filepath.Base(to)+".partial")
	if _, err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, to)
}
