// Package server wires the bot's GitHub App together: the store and its job
// queue, the GitHub clients, the app that works deliveries, what rollouts
// act on (Ironic, health gates, config drives, images), and the HTTP server
// with its webhook, health, metrics, image and rollout endpoints. It owns
// start-up and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/ghapi"
	"github.com/cluster-as-code/cluster-as-code/internal/githubapp"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/imagepipeline"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// WebhookPath is where GitHub delivers webhooks.
const WebhookPath = "/api/github/webhooks"

// Config is everything the server needs. Secrets (PrivateKey,
// WebhookSecret) are never logged.
type Config struct {
	// Listen is the address to serve on; empty means ":8080".
	Listen string
	// AppID and PrivateKey authenticate the GitHub App.
	AppID      int64
	PrivateKey []byte
	// WebhookSecret verifies deliveries; required.
	WebhookSecret []byte
	// GitHubURL is the API base; empty means https://api.github.com/.
	GitHubURL string
	// PublicURL is where the bot is reachable, for links on GitHub.
	PublicURL string
	// DataDir holds the SQLite store when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects a PostgreSQL store.
	DatabaseURL string
	// CommandPermission is the least permission for commands that act;
	// zero means write.
	CommandPermission command.Permission
	// Workers is how many deliveries are worked at once; zero means 4.
	Workers int
	// ShutdownTimeout bounds how long shutdown waits for requests and jobs
	// in flight; zero means 60 seconds. Jobs cut off are run again at the
	// next start.
	ShutdownTimeout time.Duration
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Transport sends requests to GitHub; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Images, when set, builds, tests and publishes the images a pull
	// request changes, and serves them under /images/.
	Images *ImageConfig
	// Apply, when set, lets the bot apply plans through Ironic: /apply,
	// the plan's Apply button, and rollouts of the default branch.
	Apply *ApplyConfig
}

// ImageConfig configures the image pipeline of the server.
type ImageConfig struct {
	// Store is the artifact store's directory.
	Store string
	// Buildah is how buildah is run.
	Buildah imagebuild.Buildah
	// WorkDir holds build contexts and root file systems; empty means the
	// system's temporary directory.
	WorkDir string
	// Timeout bounds one image's build; zero means an hour.
	Timeout time.Duration
}

// Server is the running GitHub App.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	app      *githubapp.App
	http     *http.Server
	listener net.Listener
}

// New wires the server and opens its store; nothing is served until Run.
// A missing webhook secret, an unusable private key or an unreachable
// database is an error here, before the bot takes any delivery.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	appMetrics := githubapp.NewMetrics(reg)

	clients, err := ghapi.NewClients(ghapi.Config{
		AppID:      cfg.AppID,
		PrivateKey: cfg.PrivateKey,
		BaseURL:    cfg.GitHubURL,
		Transport:  cfg.Transport,
		Metrics:    ghapi.NewMetrics(reg),
		Logger:     log,
		UserAgent:  "cluster-as-code",
	})
	if err != nil {
		return nil, err
	}
	slug := checkApp(ctx, clients.App(), log)
	appCfg := githubapp.Config{
		AppID:             cfg.AppID,
		BotLogin:          slug + "[bot]",
		PublicURL:         cfg.PublicURL,
		CommandPermission: cfg.CommandPermission,
	}
	var pipeline *imagepipeline.Pipeline
	var artifactStore *artifacts.Store
	if cfg.Images != nil {
		pipeline = &imagepipeline.Pipeline{Builder: &imagebuild.Builder{Buildah: cfg.Images.Buildah, WorkDir: cfg.Images.WorkDir}}
		appCfg.Images = pipeline
		artifactStore, err = artifacts.Open(cfg.Images.Store)
		if err != nil {
			return nil, err
		}
	}
	if cfg.Apply != nil {
		env, err := newRolloutEnv(cfg, artifactStore)
		if err != nil {
			return nil, err
		}
		appCfg.Rollouts = env
		appCfg.ApplyRequirements = cfg.Apply.Requirements
		appCfg.RolloutProgressEvery = cfg.Apply.ProgressEvery
		appCfg.MaxRollouts = cfg.Apply.MaxRollouts
		log.Info("applying through Ironic", "ironic", cfg.Apply.Ironic.URL, "image_url", env.imageURL, "requirements", fmt.Sprint(cfg.Apply.Requirements))
	}
	app := githubapp.New(appCfg, clients, nil, appMetrics, log)

	storeCfg := store.Config{
		DataDir:     cfg.DataDir,
		DatabaseURL: cfg.DatabaseURL,
		Handler:     app.Handle,
		Workers:     cfg.Workers,
		Logger:      log.With("component", "queue"),
		Tasks:       map[string]store.TaskKind{},
	}
	if cfg.Images != nil {
		timeout := cfg.Images.Timeout
		if timeout == 0 {
			timeout = time.Hour
		}
		storeCfg.Tasks[githubapp.TaskImageBuild] = store.TaskKind{Handler: app.HandleImageBuild, Timeout: timeout}
	}
	if cfg.Apply != nil {
		timeout := cfg.Apply.Timeout
		if timeout == 0 {
			timeout = 12 * time.Hour
		}
		storeCfg.Tasks[githubapp.TaskRollout] = store.TaskKind{Handler: app.HandleRollout, Timeout: timeout}
		// A rollout holds a worker for as long as it runs: the queue gets
		// a worker more per rollout that may run at once, so deliveries
		// keep theirs.
		workers := cfg.Workers
		if workers == 0 {
			workers = 4
		}
		maxRollouts := cfg.Apply.MaxRollouts
		if maxRollouts == 0 {
			maxRollouts = 4
		}
		storeCfg.Workers = workers + maxRollouts
	}
	st, err := store.Open(ctx, storeCfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	app.SetState(st)
	app.SetJournal(st)
	if pipeline != nil {
		pipeline.Store = artifactStore
	}
	reg.MustRegister(
		storeGauge("cac_jobs_pending", "Deliveries stored and not yet worked to an end (waiting, running or waiting for a retry); -1 when the store does not answer.", st.Pending),
		storeGauge("cac_deliveries_stored", "Deliveries in the store, worked or not, kept for the retention period; -1 when the store does not answer.", st.Deliveries),
	)

	hook, err := githubapp.NewWebhook(cfg.WebhookSecret, st, 0, appMetrics, log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, hook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Pending(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok %s\n", st.Backend())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if artifactStore != nil {
		// Ironic fetches image_source from here, with range requests.
		mux.Handle("/images/", artifactStore.Handler("/images/"))
	}
	// Deployments' log_url and the apply check runs' details link here.
	mux.Handle("GET /rollouts/{id}", rolloutPage(st))
	mux.Handle("GET /rollouts/{$}", rolloutList(st))
	// The check runs' "Details" link (the public URL) lands here.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "cluster-as-code: plans for the fleet repository's pull requests appear as the check run \"plan\" on GitHub.\nWebhooks: POST %s\nRollouts: GET /rollouts/\n", WebhookPath)
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	return &Server{
		cfg:      cfg,
		log:      log,
		store:    st,
		app:      app,
		listener: ln,
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			// A 25 MB delivery over a slow link still fits.
			ReadTimeout:    60 * time.Second,
			WriteTimeout:   60 * time.Second,
			IdleTimeout:    120 * time.Second,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// storeGauge is a gauge read from the store at each scrape.
func storeGauge(name, help string, read func(context.Context) (int64, error)) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := read(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
}

// checkApp asks GitHub who the app is, to catch a wrong app id or key at
// start-up, and returns its slug. GitHub being unreachable is only a
// warning: deliveries are stored and worked once it answers.
func checkApp(ctx context.Context, gh *github.Client, log *slog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	app, _, err := gh.Apps.Get(ctx, "")
	if err != nil {
		log.Warn("could not read the GitHub App; check the app id and private key if this persists", "err", err)
		return ""
	}
	log.Info("GitHub App", "slug", app.GetSlug(), "id", app.GetID())
	return app.GetSlug()
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Run serves until ctx ends, then shuts down gracefully: it stops taking
// connections, finishes the requests in flight (so every delivery answered
// 2xx is stored), cuts running rollouts off (they resume at the next
// start), waits for the other running jobs, and closes the store.
func (s *Server) Run(ctx context.Context) error {
	if err := s.store.Start(ctx); err != nil {
		s.store.Close()
		return err
	}
	s.log.Info("serving", "addr", s.listener.Addr().String(), "store", s.store.Backend(), "webhook", WebhookPath)
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.listener) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	s.log.Info("shutting down")
	// Rollouts are journaled and resume at the next start: cut them off
	// rather than wait for hours.
	s.app.StopRollouts()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("finishing requests: %w", err))
	}
	if err := s.store.Stop(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	return errors.Join(errs...)
}
