package repofs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// FromTar reads a tarball as GitHub's tarball API returns it, gzip-compressed or plain
// (told apart by the magic bytes): every entry sits under one top folder, such as
// "owner-repo-sha/", which is stripped. Only paths under prefixes are kept; none means
// everything. Its Rev is "tarball"; callers that know better may overwrite Rev and Commit.
//
// Pax global headers (where GitHub records the commit) and directories are skipped, as are
// hard links, devices and pipes; symbolic links are kept as links. An absolute path, a ".."
// element, a duplicate path or an entry outside the top folder rejects the whole tarball,
// and so does content beyond MaxBytes (ErrTooLarge).
func FromTar(r io.Reader, prefixes ...string) (*Snapshot, error) {
	return fromTar(r, MaxBytes, prefixes)
}

func fromTar(r io.Reader, limit int64, prefixList []string) (*Snapshot, error) {
	ps, err := parsePrefixes(prefixList)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading tarball: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	files := map[string]File{}
	budget := limit
	top := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tarball: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := stripTop(hdr.Name, &top)
		if err != nil {
			return nil, fmt.Errorf("reading tarball: %w", err)
		}
		if name == "" {
			if hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("reading tarball: entry %q is not under a top folder", hdr.Name)
			}
			continue
		}
		var f File
		switch hdr.Typeflag {
		case tar.TypeReg:
			f.Mode = fs.FileMode(hdr.Mode).Perm()
		case tar.TypeSymlink:
			f.Mode = fs.ModeSymlink
		default: // directories are implied; hard links, devices and pipes are not wanted
			continue
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("reading tarball: duplicate entry %q", hdr.Name)
		}
		if !ps.match(name) {
			continue
		}
		size := hdr.Size
		if f.Mode.Type() == fs.ModeSymlink {
			size = int64(len(hdr.Linkname))
		}
		budget -= int64(len(name))
		if size > budget {
			return nil, fmt.Errorf("reading tarball: %s: %w (limit %d bytes)", name, ErrTooLarge, limit)
		}
		budget -= size
		if f.Mode.Type() == fs.ModeSymlink {
			f.Data = []byte(hdr.Linkname)
		} else {
			f.Data = make([]byte, size)
			if _, err := io.ReadFull(tr, f.Data); err != nil {
				return nil, fmt.Errorf("reading tarball: %s: %w", name, noEOF(err))
			}
		}
		files[name] = f
	}
	if top == "" {
		return nil, errors.New("reading tarball: no entries")
	}
	s, err := build(files)
	if err != nil {
		return nil, fmt.Errorf("reading tarball: %w", err)
	}
	s.Rev = "tarball"
	return s, nil
}

// stripTop checks an entry name and removes its top folder, which must match *top (set by
// the first entry). It returns "" for the top folder itself.
func stripTop(name string, top *string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path %q", name)
	}
	clean := strings.TrimSuffix(name, "/")
	for _, elem := range strings.Split(clean, "/") {
		if elem == ".." {
			return "", fmt.Errorf("path %q leaves the top folder", name)
		}
	}
	first, rest, _ := strings.Cut(clean, "/")
	if !fs.ValidPath(first) || first == "." {
		return "", fmt.Errorf("invalid path %q", name)
	}
	switch *top {
	case "":
		*top = first
	case first:
	default:
		return "", fmt.Errorf("entry %q is not under the top folder %q", name, *top)
	}
	if rest != "" && !fs.ValidPath(rest) {
		return "", fmt.Errorf("invalid path %q", name)
	}
	return rest, nil
}
