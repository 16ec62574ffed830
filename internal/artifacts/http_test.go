package artifacts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

// server serves a store holding one image, with a file list, under /images/ as the bot's
// server mounts it.
func server(t *testing.T) (*artifacts.Store, imageid.ID, *httptest.Server) {
	t.Helper()
	s := open(t)
	id := idOf("served")
	if err := s.Publish(context.Background(), manifest(id), sources(t, contents), []pkgdiff.FileEntry{{Path: "/etc"}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/images/", s.Handler("/images/"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, id, srv
}

func do(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHandlerServesArtifacts(t *testing.T) {
	_, id, srv := server(t)
	disk := contents["disk.qcow2"]
	url := srv.URL + "/images/" + string(id) + "/disk.qcow2"
	wantHeaders := map[string]string{
		"Content-Type":      "application/octet-stream",
		"Etag":              `"sha256:` + sumOf(disk) + `"`,
		"X-Checksum-Sha256": sumOf(disk),
		"Accept-Ranges":     "bytes",
		"Last-Modified":     "Fri, 14 Mar 2025 09:26:53 GMT",
	}
	cases := []struct {
		name        string
		method      string
		header      map[string]string
		wantStatus  int
		wantBody    string
		wantHeaders map[string]string
	}{
		{"full GET", "GET", nil, 200, disk, map[string]string{"Content-Length": "40"}},
		{"range", "GET", map[string]string{"Range": "bytes=10-19"}, 206, disk[10:20], map[string]string{"Content-Range": "bytes 10-19/40", "Content-Length": "10"}},
		{"open range", "GET", map[string]string{"Range": "bytes=35-"}, 206, disk[35:], map[string]string{"Content-Range": "bytes 35-39/40"}},
		{"range past the end", "GET", map[string]string{"Range": "bytes=40-"}, 416, "", nil},
		{"HEAD", "HEAD", nil, 200, "", map[string]string{"Content-Length": "40"}},
		{"cached", "GET", map[string]string{"If-None-Match": `"sha256:` + sumOf(disk) + `"`}, 304, "", nil},
		{"stale range", "GET", map[string]string{"Range": "bytes=10-19", "If-Range": `"sha256:0000"`}, 200, disk, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, url, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if resp.StatusCode == 416 {
				return
			}
			if tc.wantStatus != 304 && body != tc.wantBody {
				t.Errorf("body: got %q, want %q", body, tc.wantBody)
			}
			for k, want := range wantHeaders {
				if tc.wantStatus == 304 && k != "Etag" {
					continue // a 304 carries the validator, not the representation's headers
				}
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			for k, want := range tc.wantHeaders {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestHandlerServesManifests(t *testing.T) {
	s, id, srv := server(t)
	want, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}

	resp, body := do(t, "GET", srv.URL+"/images/"+string(id)+"/manifest.json", nil)
	var got artifacts.Manifest
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("manifest: got %d %q", resp.StatusCode, body)
	}
	if got.ID != want.ID || !reflect.DeepEqual(got.Artifacts, want.Artifacts) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("manifest: got %+v (%s), want %+v", got, resp.Header.Get("Content-Type"), want)
	}

	resp, body = do(t, "GET", srv.URL+"/images/"+string(id)+"/files.json.gz", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Checksum-Sha256") != want.Files.SHA256 || sumOf(body) != want.Files.SHA256 {
		t.Errorf("file list: got %d, checksum header %q, body's digest %s; want 200 and %s",
			resp.StatusCode, resp.Header.Get("X-Checksum-Sha256"), sumOf(body), want.Files.SHA256)
	}

	other := manifest(idOf("second"))
	other.Name = "alpine"
	if err := s.Publish(context.Background(), other, sources(t, contents), nil); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, "GET", srv.URL+"/images/", nil)
	var list []artifacts.Manifest
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: got %d %q, %v", resp.StatusCode, body, err)
	}
	if len(list) != 2 || list[0].ID != other.ID || list[1].ID != id {
		t.Errorf("list: got %d manifests, want alpine then debian", len(list))
	}

	empty := httptest.NewServer(open(t).Handler("/"))
	defer empty.Close()
	if resp, body := do(t, "GET", empty.URL+"/", nil); resp.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("list of an empty store: got %d %q, want []", resp.StatusCode, body)
	}
}

// TestHandlerRefuses sends requests straight to the handler, past any ServeMux cleaning,
// the way a bug in front of it would.
func TestHandlerRefuses(t *testing.T) {
	s, id, _ := server(t)
	// A file in the image directory that the manifest does not list is not served either.
	if err := os.WriteFile(s.Path(id, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := s.Handler("/images/")
	sid := string(id)
	cases := []struct {
		name, method, target string
		want                 int
	}{
		{"parent of the store", "GET", "/images/../../etc/passwd", 404},
		{"parent inside the path", "GET", "/images/" + sid + "/../" + sid + "/disk.qcow2", 404},
		{"escape from the image", "GET", "/images/" + sid + "/../../../etc/passwd", 404},
		{"encoded dots", "GET", "/images/%2e%2e/%2e%2e/etc/passwd", 404},
		{"encoded slash", "GET", "/images/" + sid + "/%2Fetc%2Fpasswd", 404},
		{"double slash", "GET", "/images/" + sid + "//etc/passwd", 404},
		{"staging area", "GET", "/images/.staging/x", 404},
		{"trailing slash", "GET", "/images/" + sid + "/disk.qcow2/", 404},
		{"image directory", "GET", "/images/" + sid + "/", 404},
		{"image without file", "GET", "/images/" + sid, 404},
		{"unlisted file", "GET", "/images/" + sid + "/secret", 404},
		{"uppercase id", "GET", "/images/" + strings.ToUpper(sid) + "/disk.qcow2", 404},
		{"short id", "GET", "/images/" + id.Short() + "/disk.qcow2", 404},
		{"unknown id", "GET", "/images/" + string(idOf("unknown")) + "/disk.qcow2", 404},
		{"unknown artifact", "HEAD", "/images/" + sid + "/disk.raw", 404},
		{"outside the prefix", "GET", "/other/" + sid + "/disk.qcow2", 404},
		{"write", "PUT", "/images/" + sid + "/disk.qcow2", 405},
		{"delete", "DELETE", "/images/" + sid + "/disk.qcow2", 405},
		{"control: the artifact itself", "GET", "/images/" + sid + "/disk.qcow2", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != tc.want {
				t.Errorf("%s %s: got %d, want %d", tc.method, tc.target, rec.Code, tc.want)
			}
			if tc.want != 200 && strings.Contains(rec.Body.String(), "root:") {
				t.Errorf("%s %s served a system file", tc.method, tc.target)
			}
		})
	}
}
