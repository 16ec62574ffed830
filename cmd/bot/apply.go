package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/cloudconfig"
	"github.com/cluster-as-code/cluster-as-code/internal/etcdmember"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/secrets"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// rolloutFlags are the settings bot apply and bot rollout share: where the store, Ironic, the
// images and the secrets are.
type rolloutFlags struct {
	repo          string
	dataDir       string
	databaseURL   string
	ironicURL     string
	ironicUser    string
	ironicPwFile  string
	microversion  string
	imageURL      string
	secretsDir    string
	gateAddresses string
	poll          time.Duration
	nodeTimeout   time.Duration
}

func (f *rolloutFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.repo, "repo", ".", "the fleet repository (a git checkout)")
	fs.StringVar(&f.dataDir, "data-dir", envOr("CAC_DATA_DIR", ".cluster-as-code"), "directory of the SQLite store holding the rollout journal (CAC_DATA_DIR)")
	fs.StringVar(&f.databaseURL, "database-url", envOr("CAC_DATABASE_URL", ""), "PostgreSQL store instead of SQLite (CAC_DATABASE_URL)")
	fs.StringVar(&f.ironicURL, "ironic-url", envOr("CAC_IRONIC_URL", ""), "Ironic's API endpoint, e.g. http://ironic:6385 (CAC_IRONIC_URL)")
	fs.StringVar(&f.ironicUser, "ironic-username", envOr("CAC_IRONIC_USERNAME", ""), "HTTP basic user for Ironic; empty means noauth (CAC_IRONIC_USERNAME; password in CAC_IRONIC_PASSWORD or --ironic-password-file)")
	fs.StringVar(&f.ironicPwFile, "ironic-password-file", envOr("CAC_IRONIC_PASSWORD_FILE", ""), "file holding the Ironic password (CAC_IRONIC_PASSWORD_FILE)")
	fs.StringVar(&f.microversion, "ironic-microversion", envOr("CAC_IRONIC_MICROVERSION", ironic.DefaultMicroversion), "Ironic API microversion sent with every request, at least 1.59 (CAC_IRONIC_MICROVERSION)")
	fs.StringVar(&f.imageURL, "image-url", envOr("CAC_IMAGE_URL", ""), "URL the artifact store is served under, as Ironic reaches it, e.g. http://bot:8080/images (CAC_IMAGE_URL)")
	fs.StringVar(&f.secretsDir, "secrets-dir", envOr("CAC_SECRETS_DIR", ""), "resolve vault:PATH#KEY from DIR/PATH/KEY instead of Vault (CAC_SECRETS_DIR; Vault: VAULT_ADDR, VAULT_TOKEN)")
	fs.StringVar(&f.gateAddresses, "gate-addresses", envOr("CAC_GATE_ADDRESSES", ""), "file of 'NODE:PORT HOST:PORT' lines: where health gates reach a node's port when not at its LAN address (CAC_GATE_ADDRESSES)")
	fs.DurationVar(&f.poll, "poll", 0, "how often Ironic is polled while a node deploys (default 2s)")
	fs.DurationVar(&f.nodeTimeout, "node-timeout", 0, "how long one node's deploy may take (default 60m)")
}

// ironicConfig is Ironic's client configuration from the flags and environment.
func (f *rolloutFlags) ironicConfig() (ironic.Config, error) {
	if f.ironicURL == "" {
		return ironic.Config{}, errors.New("no Ironic: give --ironic-url or CAC_IRONIC_URL")
	}
	cfg := ironic.Config{URL: f.ironicURL, Username: f.ironicUser, Microversion: f.microversion, PollInterval: f.poll, Timeout: f.nodeTimeout}
	if f.ironicUser != "" {
		pw, _, err := secret("Ironic password", f.ironicPwFile, "CAC_IRONIC_PASSWORD", os.Getenv)
		if err != nil {
			return ironic.Config{}, err
		}
		cfg.Password = string(pw)
	}
	return cfg, nil
}

// openStore opens the store that holds the journal.
func (f *rolloutFlags) openStore(ctx context.Context) (*store.Store, error) {
	return store.Open(ctx, store.Config{DataDir: f.dataDir, DatabaseURL: f.databaseURL})
}

// storeExists reports whether there is a store to read: PostgreSQL, or an SQLite file.
func (f *rolloutFlags) storeExists() bool {
	if f.databaseURL != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(f.dataDir, "bot.db"))
	return err == nil
}

// repoName is how the journal names a local repository: its absolute path.
func (f *rolloutFlags) repoName() string {
	abs, err := filepath.Abs(f.repo)
	if err != nil {
		return f.repo
	}
	return abs
}

// gates builds the cluster's health gates from specs/.
func (f *rolloutFlags) gates(repo *model.Repo, cluster string) (*health.Gates, error) {
	var c *model.Cluster
	for _, x := range repo.Clusters {
		if x.Name.V == cluster {
			c = x
		}
	}
	if c == nil {
		return nil, fmt.Errorf("cluster %q is not in the repository", cluster)
	}
	res, err := f.resolver()
	if err != nil {
		return nil, err
	}
	return health.New(c, repo.ClusterSpecs, health.Options{Resolver: res}), nil
}

// resolver is where the bot reaches a node's port: --gate-addresses, else the LAN IP.
func (f *rolloutFlags) resolver() (health.Resolver, error) {
	if f.gateAddresses == "" {
		return health.DefaultResolver, nil
	}
	m, err := readGateAddresses(f.gateAddresses)
	if err != nil {
		return nil, err
	}
	return func(n *model.Node, port int) string {
		if a, ok := m[n.Name.V+":"+strconv.Itoa(port)]; ok {
			return a
		}
		return health.DefaultResolver(n, port)
	}, nil
}

// etcdMasters is how the cluster's masters' etcd members are replaced before a master is
// re-imaged, when the cluster's specs check etcd; false when they do not.
func (f *rolloutFlags) etcdMasters(repo *model.Repo, cluster string) (etcdmember.Masters, bool, error) {
	for _, c := range repo.Clusters {
		if c.Name.V != cluster {
			continue
		}
		m, ok := etcdmember.ForCluster(c, repo.ClusterSpecs)
		if !ok {
			return m, false, nil
		}
		res, err := f.resolver()
		if err != nil {
			return m, false, err
		}
		m.Resolve = res
		return m, true, nil
	}
	return etcdmember.Masters{}, false, nil
}

// readGateAddresses reads 'NODE:PORT HOST:PORT' lines; # starts a comment.
func readGateAddresses(path string) (map[string]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the gate addresses: %w", err)
	}
	defer file.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(file)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want NODE:PORT HOST:PORT", path, line)
		}
		for _, a := range fields {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("%s:%d: %q: %v", path, line, a, err)
			}
		}
		m[fields[0]] = fields[1]
	}
	return m, sc.Err()
}

// driveSource builds config drives from the head repository, resolving secrets; a node the
// runner says joins a running cluster gets a drive that joins it.
func (f *rolloutFlags) driveSource(repo *model.Repo, cluster string) rollout.DriveFunc {
	res := secrets.New(secrets.Config{Dir: f.secretsDir, VaultAddr: os.Getenv("VAULT_ADDR"), VaultToken: os.Getenv("VAULT_TOKEN"),
		VaultNamespace: os.Getenv("VAULT_NAMESPACE")})
	return func(ctx context.Context, node string, joinExisting bool) (json.RawMessage, error) {
		d, err := cloudconfig.ForNodeWith(ctx, repo, cluster, node, res, cloudconfig.Options{JoinExisting: joinExisting})
		if err != nil {
			return nil, err
		}
		return d.JSON()
	}
}

// applyOptions are bot apply's own flags.
type applyOptions struct {
	rolloutFlags
	cluster   string
	base      string
	head      string
	bootstrap bool
	dryRun    bool
}

const applySynopsis = "--cluster NAME [--repo DIR] [--base REV | --bootstrap] [--head REV] [--dry-run] [--ironic-url URL] [--image-url URL] [flags]"

func parseApply(args []string, stderr io.Writer) (applyOptions, error) {
	var o applyOptions
	fs := newFlagSet("apply", applySynopsis, stderr)
	o.register(fs)
	fs.StringVar(&o.cluster, "cluster", "", "the cluster to apply the plan to (required)")
	fs.StringVar(&o.base, "base", "", "the revision deployed now (default: the commit last deployed to the cluster, else HEAD)")
	fs.StringVar(&o.head, "head", "", "the revision to deploy (default: the working tree)")
	fs.BoolVar(&o.bootstrap, "bootstrap", false, "plan from an empty fleet: provision every node of the cluster")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the Ironic calls a real run would make, in order, and change nothing")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	var errs []error
	if o.cluster == "" {
		errs = append(errs, errors.New("--cluster is required"))
	}
	if o.bootstrap && o.base != "" {
		errs = append(errs, errors.New("--bootstrap plans from nothing; it cannot be used with --base"))
	}
	if !o.dryRun && o.ironicURL == "" {
		errs = append(errs, errors.New("no Ironic: give --ironic-url or CAC_IRONIC_URL (or --dry-run)"))
	}
	switch {
	case o.imageURL == "" && o.dryRun:
		o.imageURL = "IMAGE-URL"
	case o.imageURL == "":
		errs = append(errs, errors.New("no image URL: give --image-url or CAC_IMAGE_URL, where Ironic fetches the images"))
	}
	return o, errors.Join(errs...)
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseApply(args, stderr)
	if err != nil {
		return err
	}
	r := fleet.NewReader()
	head, err := readHead(ctx, r, o.repo, o.head)
	if err != nil {
		return err
	}
	// A dry run reads the journal (for the commit last deployed) when there is one, and
	// creates none.
	var st *store.Store
	if !o.dryRun || o.storeExists() {
		if st, err = o.openStore(ctx); err != nil {
			return err
		}
		defer st.Close()
	}
	base, err := o.baseSnapshot(ctx, r, st)
	if err != nil {
		return err
	}
	p := plan.Compute(base, head)
	var images rollout.ImageResolver = rollout.HTTPImages{Base: o.imageURL}
	if o.dryRun {
		images = &unpublishedImages{real: images, base: o.imageURL, stderr: stderr}
	}
	spec, err := rollout.NewSpec(ctx, p, o.cluster, head.Repo, o.repoName(), "cli", images)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bot apply: %s from %s to %s: %d nodes in %d waves\n", o.cluster, revLabel(base), revLabel(head), len(spec.Nodes), len(spec.Waves))
	if len(spec.Waves) == 0 {
		fmt.Fprintf(stdout, "%s: nothing to do\n", o.cluster)
		return nil
	}
	gates, err := o.gates(head.Repo, o.cluster)
	if err != nil {
		return err
	}
	if o.dryRun {
		return o.dryRunApply(ctx, spec, head.Repo, gates, stdout)
	}
	runner, err := o.runner(ctx, st, head.Repo, o.cluster, gates, stderr)
	if err != nil {
		return err
	}
	id, err := runner.Create(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bot apply: rollout %s (resume it with: bot rollout resume %s)\n", id, id)
	return finishRollout(ctx, runner, st, id, stdout)
}

// baseSnapshot is what the cluster runs now: --base, an empty fleet for --bootstrap, else the
// commit the journal says was last deployed to the cluster, else HEAD.
func (o applyOptions) baseSnapshot(ctx context.Context, r *fleet.Reader, st *store.Store) (plan.Snapshot, error) {
	switch {
	case o.bootstrap:
		return r.Empty(ctx)
	case o.base != "":
		return r.GitBase(ctx, o.repo, o.base)
	}
	if st != nil {
		d, err := st.Deployed(ctx, o.repoName(), o.cluster)
		switch {
		case err == nil:
			return r.GitBase(ctx, o.repo, d.Commit)
		case !store.IsNotFound(err):
			return plan.Snapshot{}, err
		}
	}
	return r.GitBase(ctx, o.repo, "HEAD")
}

// runner wires a real rollout: Ironic, gates, config drives, the journal, and when the
// cluster's specs check etcd, the replacement of a master's etcd member before it is
// re-imaged; progress goes to stderr, one line per change.
func (f *rolloutFlags) runner(ctx context.Context, st *store.Store, head *model.Repo, cluster string, gates *health.Gates, stderr io.Writer) (*rollout.Runner, error) {
	cfg, err := f.ironicConfig()
	if err != nil {
		return nil, err
	}
	client, err := ironic.NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	masters, hasEtcd, err := f.etcdMasters(head, cluster)
	if err != nil {
		return nil, err
	}
	r := &rollout.Runner{
		Journal:     st,
		Provisioner: ironic.NewProvisioner(client, cfg),
		Gates:       gates,
		ConfigDrive: f.driveSource(head, cluster),
		Tree:        rollout.TreeDigest(head),
		Progress:    progressPrinter(stderr, time.Now),
	}
	if hasEtcd {
		r.BeforeNode = func(ctx context.Context, n rollout.Node) error { return masters.ReplaceIfMaster(ctx, n.Role, n.Name) }
	}
	return r, nil
}

// finishRollout runs the rollout and prints how it ended.
func finishRollout(ctx context.Context, runner *rollout.Runner, st *store.Store, id string, stdout io.Writer) error {
	runErr := runner.Run(ctx, id)
	rec, err := st.Rollout(context.WithoutCancel(ctx), id)
	if err != nil {
		return errors.Join(runErr, err)
	}
	events, _ := st.RolloutEvents(context.WithoutCancel(ctx), id, 0)
	spec, err := rollout.UnmarshalSpec(rec.Spec)
	if err != nil {
		return err
	}
	p := rollout.Summarize(id, spec, rec.Status, rec.Message, events)
	fmt.Fprintf(stdout, "rollout %s %s: %s\n", id, rec.Status, p)
	return runErr
}

func revLabel(s plan.Snapshot) string {
	if s.Commit != "" && s.Commit != s.Rev {
		return fmt.Sprintf("%s (%.12s)", s.Rev, s.Commit)
	}
	return s.Rev
}

// dryRunApply prints what the rollout would do: the exact Ironic calls, wave by wave, and the
// gates. With --ironic-url the nodes are read from Ironic (never written); without, they are
// taken to be as the plan's base says. Secrets are not resolved: the config drives' digests
// are of drives with secrets masked.
func (o applyOptions) dryRunApply(ctx context.Context, spec rollout.Spec, head *model.Repo, gates *health.Gates, stdout io.Writer) error {
	cfg := rollout.DryRunConfig{Gates: gates.Describe()}
	if o.ironicURL != "" {
		icfg, err := o.ironicConfig()
		if err != nil {
			return err
		}
		client, err := ironic.NewClient(ctx, icfg)
		if err != nil {
			return err
		}
		cfg.Read, cfg.Ironic = client, icfg
	}
	cfg.ConfigDrive = func(ctx context.Context, node string, joinExisting bool) (json.RawMessage, error) {
		d, err := cloudconfig.ForNodeWith(ctx, head, spec.Cluster, node, maskedSecrets{}, cloudconfig.Options{JoinExisting: joinExisting})
		if err != nil {
			return nil, err
		}
		return d.Redacted().JSON()
	}
	if _, ok, err := o.etcdMasters(head, spec.Cluster); err != nil {
		return err
	} else if ok {
		cfg.Before = func(n rollout.Node) string {
			if n.Role != model.Masters {
				return ""
			}
			return "replace its etcd member (remove, add again) through the other masters"
		}
	}
	lines, err := rollout.DryRun(ctx, spec, cfg)
	fmt.Fprintf(stdout, "Dry run of %s: nothing was changed.\n", spec.Cluster)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return err
}

// maskedSecrets resolves every secret to the mask: a dry run reads no secret.
type maskedSecrets struct{}

func (maskedSecrets) Resolve(context.Context, string) (string, error) { return model.Masked, nil }

// unpublishedImages lets a dry run go on when an image is not published (yet): it says so
// and shows the URL the image would have.
type unpublishedImages struct {
	real   rollout.ImageResolver
	base   string
	stderr io.Writer
}

func (u *unpublishedImages) Resolve(ctx context.Context, id string) (ironic.Image, error) {
	img, err := u.real.Resolve(ctx, id)
	if err == nil {
		return img, nil
	}
	fmt.Fprintf(u.stderr, "bot apply: image %.12s: %v; the dry run shows where it would be\n", id, err)
	return ironic.Image{URL: strings.TrimSuffix(u.base, "/") + "/" + id + "/disk.qcow2", SHA256: "(unpublished)", Kind: "whole-disk", Format: "qcow2"}, nil
}
