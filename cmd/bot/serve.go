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

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
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
	if err := parseFlags(fs, args); err != nil {
		return serveOptions{}, err
	}
	o := serveOptions{listen: *listen, githubURL: *githubURL, publicURL: *publicURL, dataDir: *dataDir,
		databaseURL: *databaseURL, workers: *workers, logFormat: *logFormat, buildImages: *buildImages, imageStore: *imageStore}
	if o.imageStore == "" {
		o.imageStore = filepath.Join(o.dataDir, "images")
	}
	var errs []error
	if *appID == "" {
		errs = append(errs, errors.New("no GitHub App id: give --app-id or CAC_APP_ID"))
	} else if id, err := strconv.ParseInt(*appID, 10, 64); err != nil || id <= 0 {
		errs = append(errs, fmt.Errorf("GitHub App id %q is not a positive number", *appID))
	} else {
		o.appID = id
	}
	var err error
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
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
