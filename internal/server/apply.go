package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/cloudconfig"
	"github.com/cluster-as-code/cluster-as-code/internal/etcdmember"
	"github.com/cluster-as-code/cluster-as-code/internal/githubapp"
	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/secrets"
)

// ApplyConfig configures applying plans through Ironic.
type ApplyConfig struct {
	// Ironic is how Ironic is reached (URL, credentials, poll interval).
	Ironic ironic.Config
	// ImageURL is where Ironic fetches the images: the artifact store
	// served over HTTP. Empty means PublicURL/images/ when the bot builds
	// and serves the images itself; otherwise it is required.
	ImageURL string
	// Secrets resolves the secrets that config drives reference.
	Secrets secrets.Config
	// GateAddresses maps "NODE:PORT" to the "HOST:PORT" the health gates
	// dial instead of the node's LAN address; nil means none.
	GateAddresses map[string]string
	// Requirements are what /apply needs beside the command permission;
	// nil means all of them, an empty non-nil list none.
	Requirements []githubapp.Requirement
	// Timeout bounds one run of a rollout task, after which it is cut off
	// and resumed; zero means 12 hours. On PostgreSQL it is also how long
	// a rollout of a replica that died waits before another replica
	// resumes it.
	Timeout time.Duration
	// ProgressEvery bounds how often an apply check run is updated; zero
	// means 5 seconds.
	ProgressEvery time.Duration
	// MaxRollouts bounds the rollouts the process runs at once; zero
	// means 4. The store gets as many workers more than Workers, so that
	// long rollouts never starve the deliveries.
	MaxRollouts int
}

// rolloutEnv is githubapp.RolloutEnv over a real Ironic.
type rolloutEnv struct {
	provisioner *ironic.Provisioner
	images      rollout.ImageResolver
	imageURL    string
	secrets     secrets.Config
	gates       map[string]string
}

// newRolloutEnv checks the apply configuration and builds what rollouts
// act on. It does not contact Ironic: a rollout's preflight does.
func newRolloutEnv(cfg Config, store *artifacts.Store) (*rolloutEnv, error) {
	a := cfg.Apply
	if a.Ironic.URL == "" {
		return nil, errors.New("applying needs Ironic's URL")
	}
	imageURL := a.ImageURL
	if imageURL == "" && store != nil && cfg.PublicURL != "" {
		imageURL = strings.TrimRight(cfg.PublicURL, "/") + "/images/"
	}
	if imageURL == "" {
		return nil, errors.New("no image URL: give the URL Ironic fetches the images from (--image-url), or let the bot serve them (--build-images with --public-url)")
	}
	prov, err := ironic.New(a.Ironic)
	if err != nil {
		return nil, err
	}
	env := &rolloutEnv{provisioner: prov, imageURL: imageURL, secrets: a.Secrets, gates: a.GateAddresses}
	if store != nil {
		env.images = rollout.StoreImages{Store: store, Base: imageURL}
	} else {
		env.images = rollout.HTTPImages{Base: imageURL}
	}
	return env, nil
}

// Rollout gives a rollout of cluster its gates (the cluster's checks in
// specs/), config drives from the head repository with secrets resolved,
// and Ironic. When the checks include etcd, a master that joins the running
// cluster has its etcd member replaced before it is re-imaged.
func (e *rolloutEnv) Rollout(_ context.Context, head *model.Repo, cluster string) (githubapp.RolloutParts, error) {
	parts := githubapp.RolloutParts{Provisioner: e.provisioner, Images: e.images}
	var c *model.Cluster
	for _, x := range head.Clusters {
		if x.Name.V == cluster {
			c = x
		}
	}
	if c == nil {
		// A cluster the head removed: its nodes are decommissioned, with
		// no checks and no config drive.
		return parts, nil
	}
	opts := health.Options{}
	if len(e.gates) > 0 {
		opts.Resolver = func(n *model.Node, port int) string {
			if addr, ok := e.gates[n.Name.V+":"+strconv.Itoa(port)]; ok {
				return addr
			}
			return health.DefaultResolver(n, port)
		}
	}
	parts.Gates = health.New(c, head.ClusterSpecs, opts)
	if masters, ok := etcdmember.ForCluster(c, head.ClusterSpecs); ok {
		masters.Resolve = opts.Resolver
		parts.BeforeNode = func(ctx context.Context, n rollout.Node) error { return masters.ReplaceIfMaster(ctx, n.Role, n.Name) }
	}
	res := secrets.New(e.secrets)
	parts.ConfigDrive = func(ctx context.Context, node string, joinExisting bool) (json.RawMessage, error) {
		d, err := cloudconfig.ForNodeWith(ctx, head, cluster, node, res, cloudconfig.Options{JoinExisting: joinExisting})
		if err != nil {
			return nil, fmt.Errorf("config drive of %s: %w", node, err)
		}
		return d.JSON()
	}
	return parts, nil
}
