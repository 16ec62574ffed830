// Package rollouttest helps tests run rollouts without building images: it publishes small
// stand-in artifacts under the image ids a plan deploys, so that the real artifact store
// serves them and a real Ironic is given real URLs and checksums (the fake-hardware driver
// never downloads them).
package rollouttest

import (
	"context"
	"fmt"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

// PublishImages puts a small whole-disk artifact, disk.qcow2, in st for every image id a
// node of p is given, unless st holds that id already.
func PublishImages(ctx context.Context, st *artifacts.Store, p *plan.Plan) error {
	done := map[string]bool{}
	for _, c := range p.Clusters {
		for _, n := range c.Nodes {
			if n.ImageID == "" || done[n.ImageID] {
				continue
			}
			done[n.ImageID] = true
			id := imageid.ID(n.ImageID)
			if _, err := st.Get(id); err == nil {
				continue
			}
			staging, err := st.Begin(ctx, id)
			if err != nil {
				return err
			}
			a := artifacts.Artifact{Name: "disk.qcow2", Kind: artifacts.KindWholeDisk, Format: "qcow2"}
			if _, err := staging.AddReader(ctx, a, strings.NewReader("stand-in disk of "+n.ImageID)); err != nil {
				staging.Abort()
				return fmt.Errorf("publishing %s: %w", n.Image, err)
			}
			if err := staging.Commit(ctx, artifacts.Manifest{Name: n.Image}); err != nil {
				return fmt.Errorf("publishing %s: %w", n.Image, err)
			}
		}
	}
	return nil
}
