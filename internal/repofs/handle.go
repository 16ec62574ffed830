package repofs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
)

// fileHandle is an open file. It reads from the snapshot's data, which nobody writes.
type fileHandle struct {
	e      *entry
	r      *bytes.Reader
	closed bool
}

func (f *fileHandle) reader(op string) (*bytes.Reader, error) {
	if f.closed {
		return nil, &fs.PathError{Op: op, Path: f.e.path, Err: fs.ErrClosed}
	}
	if f.r == nil {
		f.r = bytes.NewReader(f.e.data)
	}
	return f.r, nil
}

func (f *fileHandle) Stat() (fs.FileInfo, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "stat", Path: f.e.path, Err: fs.ErrClosed}
	}
	return f.e, nil
}

func (f *fileHandle) Read(p []byte) (int, error) {
	r, err := f.reader("read")
	if err != nil {
		return 0, err
	}
	return r.Read(p)
}

func (f *fileHandle) ReadAt(p []byte, off int64) (int, error) {
	r, err := f.reader("read")
	if err != nil {
		return 0, err
	}
	return r.ReadAt(p, off)
}

func (f *fileHandle) Seek(offset int64, whence int) (int64, error) {
	r, err := f.reader("seek")
	if err != nil {
		return 0, err
	}
	return r.Seek(offset, whence)
}

func (f *fileHandle) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.e.path, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

// dirHandle is an open directory.
type dirHandle struct {
	e      *entry
	offset int // children already returned by ReadDir
	closed bool
}

func (d *dirHandle) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.e.path, Err: fs.ErrClosed}
	}
	return d.e, nil
}

func (d *dirHandle) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.e.path, Err: fmt.Errorf("is a directory: %w", fs.ErrInvalid)}
}

func (d *dirHandle) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.e.path, Err: fs.ErrClosed}
	}
	rest := d.e.children[d.offset:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	list := make([]fs.DirEntry, len(rest))
	for i, c := range rest {
		list[i] = c
	}
	d.offset += len(rest)
	return list, nil
}

func (d *dirHandle) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.e.path, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}
