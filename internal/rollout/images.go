package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
)

// HTTPImages resolves image ids against an artifact store served over HTTP (bot serve's
// /images/, or any web server in front of the store's directory): the manifest at
// <Base>/<id>/manifest.json names the files, and Ironic fetches them from the same place.
type HTTPImages struct {
	// Base is the URL the store is served under, as Ironic's deploy ramdisk reaches it.
	Base string
	// Client fetches the manifests; nil means http.DefaultClient.
	Client *http.Client
	// RootGB is the root partition size for partition images; zero means 10.
	RootGB int
}

// Resolve reads an image's manifest and picks what Ironic deploys: the whole-disk image when
// there is one, else the root partition with its kernel and initrd.
func (h HTTPImages) Resolve(ctx context.Context, imageID string) (ironic.Image, error) {
	base := strings.TrimSuffix(h.Base, "/")
	url := base + "/" + imageID + "/" + artifacts.ManifestName
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ironic.Image{}, fmt.Errorf("image URL base %q: %w", h.Base, err)
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return ironic.Image{}, fmt.Errorf("reading the manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ironic.Image{}, fmt.Errorf("not published at %s (build and publish it first: bot image build)", url)
	}
	if resp.StatusCode != http.StatusOK {
		return ironic.Image{}, fmt.Errorf("reading the manifest: %s answered %s", url, resp.Status)
	}
	var m artifacts.Manifest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&m); err != nil {
		return ironic.Image{}, fmt.Errorf("reading the manifest at %s: %w", url, err)
	}
	if string(m.ID) != imageID {
		return ironic.Image{}, fmt.Errorf("the manifest at %s is of image %s", url, m.ID)
	}
	return pickArtifact(m, base+"/"+imageID+"/", h.RootGB)
}

// pickArtifact chooses what Ironic deploys from a manifest whose files are under dir.
func pickArtifact(m artifacts.Manifest, dir string, rootGB int) (ironic.Image, error) {
	byKind := map[artifacts.Kind]artifacts.Artifact{}
	for _, a := range m.Artifacts {
		if _, dup := byKind[a.Kind]; !dup {
			byKind[a.Kind] = a
		}
	}
	if a, ok := byKind[artifacts.KindWholeDisk]; ok {
		return ironic.Image{URL: dir + a.Name, SHA256: a.SHA256, Kind: string(a.Kind), Format: a.Format}, nil
	}
	root, okRoot := byKind[artifacts.KindPartition]
	kernel, okKernel := byKind[artifacts.KindKernel]
	initrd, okInitrd := byKind[artifacts.KindInitrd]
	if okRoot && okKernel && okInitrd {
		if rootGB <= 0 {
			rootGB = 10
		}
		return ironic.Image{URL: dir + root.Name, SHA256: root.SHA256, Kind: string(root.Kind), Format: root.Format,
			KernelURL: dir + kernel.Name, RamdiskURL: dir + initrd.Name, RootGB: rootGB}, nil
	}
	return ironic.Image{}, fmt.Errorf("image %s has no whole-disk image, nor a partition image with kernel and initrd", m.ID)
}

// StoreImages resolves image ids against a local artifact store whose directory is served to
// Ironic under Base.
type StoreImages struct {
	Store  *artifacts.Store
	Base   string
	RootGB int
}

// Resolve reads the manifest from the store.
func (s StoreImages) Resolve(_ context.Context, imageID string) (ironic.Image, error) {
	m, err := s.Store.Get(imageid.ID(imageID))
	if err != nil {
		return ironic.Image{}, fmt.Errorf("%w (build it first: bot image build)", err)
	}
	return pickArtifact(m, strings.TrimSuffix(s.Base, "/")+"/"+imageID+"/", s.RootGB)
}
