package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/githubapp"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/secrets"
	"github.com/cluster-as-code/cluster-as-code/internal/server"
)

// serveOptions is bot serve's configuration, from flags and the environment.
// Secrets come only from the environment or files: flags show in ps.
type serveOptions struct {
	listen            string
	appID             int64
	privateKey        []byte
	privateKeySource  string
	webhookSecret     []byte
	secretSource      string
	githubURL         string
	publicURL         string
	dataDir           string
	databaseURL       string
	commandPermission command.Permission
	workers           int
	logFormat         string
	buildImages       bool
	imageStore        string
	// Applying, enabled by ironicURL.
	ironicURL            string
	ironicUser           string
	ironicPassword       []byte
	ironicPasswordSource string
	ironicPoll           time.Duration
	imageURL             string
	secrets              secrets.Config
	applyRequirements    []githubapp.Requirement
	gateAddresses        map[string]string
	gateAddressesFile    string
	rolloutTimeout       time.Duration
	maxRollouts          int
}

// parseServeOptions fills serveOptions from args and getenv: a flag wins
// over its environment variable, which wins over the default.
func parseServeOptions(args []string, getenv func(string) string, stderr io.Writer) (serveOptions, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := newFlagSet("serve", "[flags]", stderr)
	listen := fs.String("listen", env("CAC_LISTEN", ":8080"), "address to serve on (CAC_LISTEN)")
	appID := fs.String("app-id", env("CAC_APP_ID", ""), "GitHub App id (CAC_APP_ID)")
	keyFile := fs.String("private-key-file", env("CAC_PRIVATE_KEY_FILE", ""), "GitHub App private key, PEM (CAC_PRIVATE_KEY_FILE; or the PEM itself in CAC_PRIVATE_KEY)")
	secretFile := fs.String("webhook-secret-file", env("CAC_WEBHOOK_SECRET_FILE", ""), "file holding the webhook secret (CAC_WEBHOOK_SECRET_FILE; or the secret itself in CAC_WEBHOOK_SECRET)")
	githubURL := fs.String("github-url", env("CAC_GITHUB_URL", "https://api.github.com/"), "GitHub API base URL; GitHub Enterprise: https://HOST/api/v3/ (CAC_GITHUB_URL)")
	publicURL := fs.String("public-url", env("CAC_PUBLIC_URL", ""), "URL where the bot is reachable, for links on GitHub (CAC_PUBLIC_URL)")
	dataDir := fs.String("data-dir", env("CAC_DATA_DIR", "/var/lib/cluster-as-code"), "directory of the SQLite store (CAC_DATA_DIR)")
	databaseURL := fs.String("database-url", env("CAC_DATABASE_URL", ""), "PostgreSQL URL; when set the store is PostgreSQL and several replicas may run (CAC_DATABASE_URL)")
	permission := fs.String("command-permission", env("CAC_COMMAND_PERMISSION", "write"), "least repository permission for commands such as /plan: read, triage, write, maintain or admin (CAC_COMMAND_PERMISSION)")
	workers := fs.Int("workers", 4, "deliveries worked at once")
	logFormat := fs.String("log-format", env("CAC_LOG_FORMAT", "json"), "log format: json or text (CAC_LOG_FORMAT)")
	buildImages := fs.Bool("build-images", env("CAC_BUILD_IMAGES", "true") == "true", "build, test and publish the images pull requests change, and serve them under /images/ (CAC_BUILD_IMAGES)")
	imageStore := fs.String("image-store", env("CAC_IMAGE_STORE", ""), "the artifact store's directory; empty means DATA-DIR/images (CAC_IMAGE_STORE)")
	ironicURL := fs.String("ironic-url", env("CAC_IRONIC_URL", ""), "Ironic's API endpoint, e.g. http://ironic:6385; applying (/apply, merges) is enabled only when set (CAC_IRONIC_URL)")
	ironicUser := fs.String("ironic-username", env("CAC_IRONIC_USERNAME", ""), "HTTP basic user for Ironic; empty means noauth. The password comes from CAC_IRONIC_PASSWORD or --ironic-password-file (CAC_IRONIC_USERNAME)")
	ironicPwFile := fs.String("ironic-password-file", env("CAC_IRONIC_PASSWORD_FILE", ""), "file holding the Ironic password (CAC_IRONIC_PASSWORD_FILE)")
	ironicPoll := fs.String("ironic-poll-interval", env("CAC_IRONIC_POLL_INTERVAL", "2s"), "how often a deploying node is read from Ironic (CAC_IRONIC_POLL_INTERVAL)")
	imageURL := fs.String("image-url", env("CAC_IMAGE_URL", ""), "URL the artifact store is served under, as Ironic reaches it; empty means PUBLIC-URL/images/ when the bot builds and serves the images (CAC_IMAGE_URL)")
	secretsDir := fs.String("secrets-dir", env("CAC_SECRETS_DIR", ""), "resolve the config drives' vault:PATH#KEY from DIR/PATH/KEY instead of Vault (CAC_SECRETS_DIR; Vault: VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE)")
	applyReqs := fs.String("apply-requirements", env("CAC_APPLY_REQUIREMENTS", "plan,images,approved,mergeable"), "what /apply needs besides --command-permission: a comma list of plan, images, approved, mergeable; or none (CAC_APPLY_REQUIREMENTS)")
	gateAddrs := fs.String("gate-addresses", env("CAC_GATE_ADDRESSES", ""), "file of 'NODE:PORT HOST:PORT' lines: where health gates reach a node's port when not at its LAN address (CAC_GATE_ADDRESSES)")
	rolloutTimeout := fs.String("rollout-timeout", env("CAC_ROLLOUT_TIMEOUT", "12h"), "how long one rollout may run before it is cut off and resumed (CAC_ROLLOUT_TIMEOUT)")
	maxRollouts := fs.String("max-rollouts", env("CAC_MAX_ROLLOUTS", "4"), "rollouts this process runs at once, on workers of their own beside --workers; more wait (CAC_MAX_ROLLOUTS)")
	if err := parseFlags(fs, args); err != nil {
		return serveOptions{}, err
	}
	o := serveOptions{listen: *listen, githubURL: *githubURL, publicURL: *publicURL, dataDir: *dataDir,
		databaseURL: *databaseURL, workers: *workers, logFormat: *logFormat, buildImages: *buildImages, imageStore: *imageStore,
		ironicURL: *ironicURL, ironicUser: *ironicUser, imageURL: *imageURL, gateAddressesFile: *gateAddrs,
		secrets: secrets.Config{Dir: *secretsDir, VaultAddr: getenv("VAULT_ADDR"), VaultToken: getenv("VAULT_TOKEN"), VaultNamespace: getenv("VAULT_NAMESPACE")}}
	if o.imageStore == "" {
		o.imageStore = filepath.Join(o.dataDir, "images")
	}
	var errs []error
	var err error
	if o.ironicPoll, err = time.ParseDuration(*ironicPoll); err != nil || o.ironicPoll <= 0 {
		errs = append(errs, fmt.Errorf("--ironic-poll-interval %q is not a positive duration such as 2s", *ironicPoll))
	}
	if o.rolloutTimeout, err = time.ParseDuration(*rolloutTimeout); err != nil || o.rolloutTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--rollout-timeout %q is not a positive duration such as 12h", *rolloutTimeout))
	}
	if n, err := strconv.Atoi(*maxRollouts); err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("--max-rollouts %q is not a positive number", *maxRollouts))
	} else {
		o.maxRollouts = n
	}
	if o.applyRequirements, err = githubapp.ParseRequirements(*applyReqs); err != nil {
		errs = append(errs, fmt.Errorf("--apply-requirements: %w", err))
	}
	if o.ironicUser != "" {
		o.ironicPassword, o.ironicPasswordSource, err = secret("Ironic password", *ironicPwFile, "CAC_IRONIC_PASSWORD", getenv)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if o.gateAddressesFile != "" {
		if o.gateAddresses, err = readGateAddresses(o.gateAddressesFile); err != nil {
			errs = append(errs, fmt.Errorf("--gate-addresses: %w", err))
		}
	}
	if o.ironicURL != "" && o.imageURL == "" && (!o.buildImages || o.publicURL == "") {
		errs = append(errs, errors.New("applying needs the URL Ironic fetches images from: give --image-url (CAC_IMAGE_URL), or --public-url with --build-images so that the bot serves them"))
	}
	if *appID == "" {
		errs = append(errs, errors.New("no GitHub App id: give --app-id or CAC_APP_ID"))
	} else if id, err := strconv.ParseInt(*appID, 10, 64); err != nil || id <= 0 {
		errs = append(errs, fmt.Errorf("GitHub App id %q is not a positive number", *appID))
	} else {
		o.appID = id
	}
	o.privateKey, o.privateKeySource, err = secret("private key", *keyFile, "CAC_PRIVATE_KEY", getenv)
	if err != nil {
		errs = append(errs, err)
	}
	o.webhookSecret, o.secretSource, err = secret("webhook secret", *secretFile, "CAC_WEBHOOK_SECRET", getenv)
	if err != nil {
		errs = append(errs, err)
	}
	if o.commandPermission, err = command.ParsePermission(*permission); err != nil {
		errs = append(errs, fmt.Errorf("--command-permission: %w", err))
	}
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1, not %d", o.workers))
	}
	if err := oneOf("log-format", o.logFormat, "json", "text"); err != nil {
		errs = append(errs, err)
	}
	if o.databaseURL == "" && o.dataDir == "" {
		errs = append(errs, errors.New("no store: give --data-dir or --database-url"))
	}
	return o, errors.Join(errs...)
}

// secret reads a secret from a file, or else from an environment variable,
// and says where it came from (never what it is).
func secret(what, file, envName string, getenv func(string) string) ([]byte, string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("reading the %s: %w", what, err)
		}
		data = []byte(strings.TrimRight(string(data), "\r\n"))
		if len(data) == 0 {
			return nil, "", fmt.Errorf("the %s file %s is empty", what, file)
		}
		return data, "file " + file, nil
	}
	if v := getenv(envName); v != "" {
		return []byte(v), "environment " + envName, nil
	}
	return nil, "", fmt.Errorf("no %s: give a file (see bot serve --help) or set %s", what, envName)
}

// images is the image pipeline's configuration, nil when images are not
// built. Buildah's settings come from the same variables as bot image's.
func (o serveOptions) images() *server.ImageConfig {
	if !o.buildImages {
		return nil
	}
	b := imagebuild.Buildah{StorageDriver: os.Getenv("CAC_BUILDAH_STORAGE_DRIVER"), Isolation: os.Getenv("CAC_BUILDAH_ISOLATION"), Root: os.Getenv("CAC_BUILDAH_ROOT")}
	if b.Root != "" {
		b.RunRoot = filepath.Join(b.Root, "run")
	}
	return &server.ImageConfig{Store: o.imageStore, Buildah: b, WorkDir: os.Getenv("CAC_WORK_DIR")}
}

// apply is the configuration of applying, nil when it is disabled (no
// Ironic URL).
func (o serveOptions) apply() *server.ApplyConfig {
	if o.ironicURL == "" {
		return nil
	}
	return &server.ApplyConfig{
		Ironic:        ironic.Config{URL: o.ironicURL, Username: o.ironicUser, Password: string(o.ironicPassword), PollInterval: o.ironicPoll},
		ImageURL:      o.imageURL,
		Secrets:       o.secrets,
		GateAddresses: o.gateAddresses,
		Requirements:  o.applyRequirements,
		Timeout:       o.rolloutTimeout,
		MaxRollouts:   o.maxRollouts,
	}
}

// runServe runs the GitHub App until ctx ends (SIGINT or SIGTERM).
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseServeOptions(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewJSONHandler(stderr, nil)
	if o.logFormat == "text" {
		handler = slog.NewTextHandler(stderr, nil)
	}
	log := slog.New(handler)
	store := "sqlite in " + o.dataDir
	if o.databaseURL != "" {
		store = "postgresql"
	}
	log.Info("starting", "app_id", o.appID, "github", o.githubURL, "public_url", o.publicURL,
		"store", store, "private_key", o.privateKeySource, "webhook_secret", o.secretSource,
		"command_permission", o.commandPermission.String(), "workers", o.workers, "build_images", o.buildImages, "image_store", o.imageStore)
	if o.ironicURL == "" {
		log.Info("applying disabled: no --ironic-url")
	} else {
		log.Info("applying enabled", "ironic", o.ironicURL, "ironic_user", o.ironicUser, "ironic_password", o.ironicPasswordSource,
			"image_url", o.imageURL, "secrets", o.secrets.String(), "gate_addresses", o.gateAddressesFile, "apply_requirements", fmt.Sprint(o.applyRequirements))
		if len(o.applyRequirements) == 0 {
			log.Warn("apply requirements: none — anyone with the command permission can deploy any open pull request, unreviewed, with a failed plan or images")
		}
	}
	srv, err := server.New(ctx, server.Config{
		Listen:            o.listen,
		AppID:             o.appID,
		PrivateKey:        o.privateKey,
		WebhookSecret:     o.webhookSecret,
		GitHubURL:         o.githubURL,
		PublicURL:         o.publicURL,
		DataDir:           o.dataDir,
		DatabaseURL:       o.databaseURL,
		CommandPermission: o.commandPermission,
		Workers:           o.workers,
		Logger:            log,
		Images:            o.images(),
		Apply:             o.apply(),
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
