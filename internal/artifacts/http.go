package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
)

// Handler serves the store over HTTP under prefix (which should end in "/"), read-only:
//
//	GET <prefix>                    the manifests of every image, as a JSON array (List)
//	GET <prefix><id>/manifest.json  one manifest
//	GET <prefix><id>/files.json.gz  its file list, when it has one
//	GET <prefix><id>/<artifact>     an artifact, with range requests
//
// HEAD works wherever GET does. Files are served with an ETag of "sha256:<hex>" and an
// X-Checksum-Sha256 header, so clients can check what they fetched, and Last-Modified is
// the build's creation time. Anything else, including any path that is not exactly a known
// id and one of its files, is 404: nothing outside the store is ever named, let alone read.
func (s *Store) Handler(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			s.serveList(w, r)
			return
		}
		id, name, ok := strings.Cut(rest, "/")
		if !ok || !validID(imageid.ID(id)) || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		s.serveFile(w, r, imageid.ID(id), name)
	})
}

func (s *Store) serveList(w http.ResponseWriter, r *http.Request) {
	list, err := s.List()
	if err != nil {
		http.Error(w, "listing artifacts: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		http.Error(w, "listing artifacts: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	serveBytes(w, r, body, time.Time{})
}

func (s *Store) serveFile(w http.ResponseWriter, r *http.Request, id imageid.ID, name string) {
	m, err := s.Get(id)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var contentType, sum string
	switch a, isArtifact := m.Artifact(name); {
	case name == ManifestName:
		body, err := os.ReadFile(s.Path(id, ManifestName))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		serveBytes(w, r, body, m.Created)
		return
	case name == FilesName && m.Files != nil:
		contentType, sum = "application/gzip", m.Files.SHA256
	case isArtifact:
		contentType, sum = "application/octet-stream", a.SHA256
	default:
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(s.Path(id, name))
	if err != nil {
		// The image may have been collected since its manifest was read.
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", `"sha256:`+sum+`"`)
	h.Set("X-Checksum-Sha256", sum)
	http.ServeContent(w, r, name, m.Created, f)
}

// serveBytes serves a small generated body with its digest as ETag, so that HEAD, ranges
// and conditional requests work as they do for files.
func serveBytes(w http.ResponseWriter, r *http.Request, body []byte, modified time.Time) {
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	w.Header().Set("ETag", `"sha256:`+hexSum+`"`)
	w.Header().Set("X-Checksum-Sha256", hexSum)
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}
