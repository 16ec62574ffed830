// Package artifacts is the content-addressed store of built OS images: one directory per
// image id holding the artifacts that Ironic fetches by URL and checks by SHA-256 (disk
// images, kernels, initrds), a manifest.json describing them, and optionally files.json.gz,
// the list of the image's files that package diffs compare.
//
// Layout:
//
//	<root>/<image id>/manifest.json
//	<root>/<image id>/<artifact>...
//	<root>/<image id>/files.json.gz      (when the build recorded its files)
//	<root>/.staging/                     (publications in progress, scratch; emptied by Open)
//
// An image directory appears whole or not at all: publishing writes into .staging and
// renames the finished directory into place, and collecting renames a directory out of
// place before deleting it. One process owns a store root at a time.
package artifacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

// Schema identifies the manifest format; it is the "schema" field of every manifest.
const Schema = "cluster-as-code/artifacts/v1"

// ManifestName and FilesName are the two file names in an image directory that are not
// artifacts.
const (
	ManifestName = "manifest.json"
	FilesName    = "files.json.gz"
)

// ErrNotFound is wrapped by errors for an image id, or an artifact, that the store does not
// hold.
var ErrNotFound = errors.New("not in the artifact store")

// Kind says what an artifact is for. Other values than the constants are allowed.
type Kind string

// The kinds of artifact Ironic deploys.
const (
	// KindWholeDisk is a disk image with its partition table and bootloader.
	KindWholeDisk Kind = "whole-disk"
	// KindPartition is a root partition image, deployed with a kernel and an initrd.
	KindPartition Kind = "partition"
	KindKernel    Kind = "kernel"
	KindInitrd    Kind = "initrd"
	// KindRootfsTar is the root filesystem as a tar archive.
	KindRootfsTar Kind = "rootfs-tar"
)

// Artifact is one file of a build.
type Artifact struct {
	// Name is the file's name in the image directory and in its URL: "disk.qcow2".
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Format is the file format: "qcow2", "raw", "tar.zst", ...
	Format string `json:"format"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex digest of the content.
	SHA256 string `json:"sha256"`
}

// FileList describes the file list of a build, stored beside the manifest rather than in
// it because it runs to tens of thousands of entries: a gzipped JSON array of
// pkgdiff.FileEntry.
type FileList struct {
	// Name is the file's name in the image directory: always FilesName.
	Name string `json:"name"`
	// Count is the number of entries.
	Count int `json:"count"`
	// Size and SHA256 are those of the gzipped file.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one build: manifest.json in the image directory.
type Manifest struct {
	// Schema is always Schema.
	Schema string     `json:"schema"`
	ID     imageid.ID `json:"id"`
	// Name is the image's folder name under images/.
	Name string `json:"name"`
	// Variant is the variant built, which may be the image's own name.
	Variant string `json:"variant"`
	// Parent is the id of the image this one was built on; empty for a root image.
	Parent    imageid.ID        `json:"parent"`
	BuildArgs map[string]string `json:"build_args"`
	// Created is when the build was published, in UTC.
	Created   time.Time         `json:"created"`
	Artifacts []Artifact        `json:"artifacts"`
	Packages  []pkgdiff.Package `json:"packages"`
	// SpecResults is whatever JSON value the spec runner reported; it is stored re-indented.
	SpecResults json.RawMessage `json:"spec_results,omitempty"`
	// Files is nil when the build did not record its files.
	Files *FileList `json:"files,omitempty"`
}

// Artifact returns the artifact of that name.
func (m Manifest) Artifact(name string) (Artifact, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// validID says whether id is an image id: 64 lowercase hex digits. Only such names are ever
// joined to the store's root, which is what keeps requests inside it.
func validID(id imageid.ID) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkArtifactName accepts names that are one plain path component usable in a URL as is.
func checkArtifactName(name string) error {
	if name == ManifestName || name == FilesName {
		return fmt.Errorf("artifact name %q is reserved", name)
	}
	if name == "" || len(name) > 200 || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("artifact name %q: want 1 to 200 of [A-Za-z0-9._+-], not starting with '.' or '-'", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._+-", r))
	}); i >= 0 {
		return fmt.Errorf("artifact name %q: character %q is not one of [A-Za-z0-9._+-]", name, name[i])
	}
	return nil
}

// MismatchError is a file whose content is not what the manifest says.
type MismatchError struct {
	ID   imageid.ID
	File string
	// Want and Got are hex SHA-256 digests.
	Want, Got string
}

// Error names the image, the file and both digests.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("image %s: %s: sha256 is %s, want %s", e.ID.Short(), e.File, e.Got, e.Want)
}
