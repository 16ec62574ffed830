package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// Provisioner is what a rollout asks of Ironic (package ironic's Provisioner).
type Provisioner interface {
	// Preflight checks every target before anything is changed.
	Preflight(ctx context.Context, targets []ironic.Target) error
	// Deploy brings one node to its target, telling obs of every step.
	Deploy(ctx context.Context, t ironic.Target, obs ironic.Observer) (ironic.Result, error)
	// Undeploy tears a decommissioned node down and returns it to the pool.
	Undeploy(ctx context.Context, t ironic.Target, obs ironic.Observer) (ironic.Result, error)
}

// Gates are a cluster's health gates (package health's Gates).
type Gates interface {
	// AfterNode waits until the checks of the node's role pass.
	AfterNode(ctx context.Context, node string) error
	// AfterWave waits until every check of the cluster passes.
	AfterWave(ctx context.Context) error
}

// Journal is where rollouts are recorded: the bot's *store.Store, or a MemoryJournal for dry
// runs.
type Journal interface {
	CreateRollout(ctx context.Context, r store.Rollout) error
	Rollout(ctx context.Context, id string) (store.Rollout, error)
	SetRolloutStatus(ctx context.Context, id, status, message string) error
	AppendRolloutEvent(ctx context.Context, e store.RolloutEvent) error
	RolloutEvents(ctx context.Context, id string, after int64) ([]store.RolloutEvent, error)
	RecordDeployed(ctx context.Context, d store.Deployment) error
	AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, key, holder string) error
	LeaseHolder(ctx context.Context, key string) (string, error)
}

// The rollout's own steps in the journal, beside package ironic's steps of a node.
const (
	StepRollout   = "rollout"   // the whole run: begin when (re)started, end when it stops
	StepPreflight = "preflight" // Provisioner.Preflight
	StepWave      = "wave"      // a wave: end without error once its nodes and gates passed
	StepNode      = "node"      // a node: end without error once deployed and gated
	StepBefore    = "before"    // Runner.BeforeNode, before a node joining a running cluster is deployed
	StepGate      = "gate"      // the role's gates after a node
	StepWaveGate  = "wave-gate" // the cluster's gates after a wave
)

// Runner executes rollouts. Set its fields before the first call; its methods may run
// concurrently for different clusters.
type Runner struct {
	Journal     Journal
	Provisioner Provisioner
	// Gates may be nil: the cluster has no checks in specs/.
	Gates Gates
	// ConfigDrive builds a node's config drive (Ironic's dict form) from the head repository.
	// Its result holds secrets; the runner passes it to Ironic and nowhere else.
	ConfigDrive DriveFunc
	// BeforeNode, when set, runs right before the deploy of a node that joins a running
	// cluster (JoinsExisting: a reprovision, or a provision into a cluster that runs) is
	// triggered, and only when it is: never for a node already deployed, nor for one whose
	// deploy is in flight. The bot replaces a master's etcd member there. It is journaled as
	// StepBefore; an error halts the rollout like a failed gate, before the deploy is
	// triggered. It runs once per node and rollout. Nil means nothing.
	BeforeNode func(ctx context.Context, n Node) error
	// Tree is the digest (TreeDigest) of the repository ConfigDrive builds from; Run refuses
	// a rollout planned from another tree.
	Tree string
	// Events, when set, is called after every journaled event, synchronously.
	Events func(store.RolloutEvent)
	// Progress, when set, is called after every journaled event with the rollout's state.
	Progress func(Progress)
	// Sequential deploys a wave's nodes one after another (dry runs, for a stable order).
	Sequential bool
	// LeaseTTL is how long the cluster's lease outlives a process that stopped renewing it;
	// zero means two minutes.
	LeaseTTL time.Duration
	Log      *slog.Logger
}

// DriveFunc builds the config drive of a node; joinExisting says whether the node joins a
// cluster that runs (JoinsExisting), which the drive must tell the node's etcd
// (cloudconfig.Options.JoinExisting).
type DriveFunc func(ctx context.Context, node string, joinExisting bool) (json.RawMessage, error)

// JoinsExisting reports whether node n of spec joins a cluster that runs, rather than being
// bootstrapped with it: anything but a provision in a new cluster. A cluster is new when every
// master the rollout names is provisioned: a running cluster's masters are reprovisioned
// whenever the set of masters changes, since each master's drive lists them all.
func JoinsExisting(spec Spec, n Node) bool {
	if n.Action != plan.Provision {
		return true
	}
	masters := 0
	for _, m := range spec.Nodes {
		if m.Role != model.Masters {
			continue
		}
		masters++
		if m.Action != plan.Provision {
			return true
		}
	}
	return masters == 0
}

// ErrBusy is wrapped by Run's error when another rollout holds the cluster.
var ErrBusy = errors.New("another rollout is running on the cluster")

// HaltError says where a rollout halted and why.
type HaltError struct {
	Cluster string
	// Wave is zero when the rollout halted before its first wave (preflight).
	Wave int
	Node string
	Step string
	Err  error
}

func (e *HaltError) Error() string {
	if e.Wave == 0 {
		return fmt.Sprintf("rollout of %s halted before changing anything: %v", e.Cluster, e.Err)
	}
	return fmt.Sprintf("rollout of %s halted in wave %d: %v", e.Cluster, e.Wave, e.Err)
}

func (e *HaltError) Unwrap() error { return e.Err }

// LeaseKey is the key of the lease that keeps two rollouts off one cluster.
func LeaseKey(repo, cluster string) string { return "rollout:" + repo + ":" + cluster }

// NewID returns a fresh rollout id: the cluster, the time, and a random suffix.
func NewID(cluster string, now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", cluster, now.UTC().Format("20060102T150405"), hex.EncodeToString(b[:]))
}

// Create journals a new rollout of spec and returns its id. Nothing runs until Run.
func (r *Runner) Create(ctx context.Context, spec Spec) (string, error) {
	b, err := spec.Marshal()
	if err != nil {
		return "", err
	}
	id := NewID(spec.Cluster, time.Now())
	err = r.Journal.CreateRollout(ctx, store.Rollout{
		ID: id, Repo: spec.Repo, Cluster: spec.Cluster, Source: spec.Source,
		BaseCommit: spec.Base.Commit, HeadCommit: spec.Head.Commit, Spec: b, Status: store.RolloutRunning,
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// run is one execution of one rollout.
type run struct {
	*Runner
	id     string
	spec   Spec
	mu     sync.Mutex // guards events, tally and journal writes' order
	events []store.RolloutEvent
	tally  *tally // the progress of events
}

// Run executes or resumes rollout id until it succeeds or halts. A cancelled ctx stops it
// where it is, still running in the journal, to be resumed. A rollout that already succeeded
// is not run again.
func (r *Runner) Run(ctx context.Context, id string) error {
	rec, err := r.Journal.Rollout(ctx, id)
	if err != nil {
		return err
	}
	if rec.Status == store.RolloutSucceeded {
		return nil
	}
	spec, err := UnmarshalSpec(rec.Spec)
	if err != nil {
		return err
	}
	if r.Tree != "" && spec.Tree != r.Tree {
		return fmt.Errorf("rollout %s was planned from another state of the repository (fleet files %.12s, given %.12s): resume it with the head it started from (%s)",
			id, spec.Tree, r.Tree, revString(spec.Head))
	}
	events, err := r.Journal.RolloutEvents(ctx, id, 0)
	if err != nil {
		return err
	}
	ru := &run{Runner: r, id: id, spec: spec, events: events, tally: newTally(spec)}
	for _, e := range events {
		ru.tally.add(e)
	}

	key, ttl := LeaseKey(spec.Repo, spec.Cluster), r.leaseTTL()
	ok, err := r.Journal.AcquireLease(ctx, key, id, ttl)
	if err != nil {
		return err
	}
	if !ok {
		holder, _ := r.Journal.LeaseHolder(ctx, key)
		return fmt.Errorf("cluster %s: %w (%s)", spec.Cluster, ErrBusy, holder)
	}
	leaseCtx, stopLease := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go ru.renewLease(leaseCtx, key, ttl, renewed)
	defer func() {
		stopLease()
		<-renewed
		r.Journal.ReleaseLease(context.WithoutCancel(ctx), key, id)
	}()

	if rec.Status != store.RolloutRunning {
		if err := r.Journal.SetRolloutStatus(ctx, id, store.RolloutRunning, ""); err != nil {
			return err
		}
	}
	if err := ru.journal(ctx, store.RolloutEvent{Step: StepRollout, Phase: string(ironic.Begin), Detail: ru.resumeDetail()}); err != nil {
		return err
	}
	runErr := ru.execute(ctx)
	return ru.finish(ctx, runErr)
}

func (r *Runner) leaseTTL() time.Duration {
	if r.LeaseTTL > 0 {
		return r.LeaseTTL
	}
	return 2 * time.Minute
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// renewLease keeps the cluster's lease while the rollout runs.
func (ru *run) renewLease(ctx context.Context, key string, ttl time.Duration, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, err := ru.Journal.AcquireLease(ctx, key, ru.id, ttl)
			if err != nil && ctx.Err() == nil {
				ru.log().Warn("renewing the cluster's lease", "rollout", ru.id, "err", err)
			} else if !ok {
				ru.log().Error("the cluster's lease was taken by another rollout", "rollout", ru.id)
			}
		}
	}
}

// resumeDetail says whether this run starts or resumes the rollout.
func (ru *run) resumeDetail() string {
	if len(ru.events) == 0 {
		return "start"
	}
	return "resume"
}

// finish records how the run ended.
func (ru *run) finish(ctx context.Context, runErr error) error {
	bg := context.WithoutCancel(ctx)
	switch {
	case runErr == nil:
		ru.journal(bg, store.RolloutEvent{Step: StepRollout, Phase: string(ironic.End), Detail: "succeeded"})
		if err := ru.Journal.SetRolloutStatus(bg, ru.id, store.RolloutSucceeded, ""); err != nil {
			return err
		}
		if ru.spec.Head.Commit != "" {
			return ru.Journal.RecordDeployed(bg, store.Deployment{Repo: ru.spec.Repo, Cluster: ru.spec.Cluster,
				Commit: ru.spec.Head.Commit, RolloutID: ru.id})
		}
		return nil
	case ctx.Err() != nil:
		// Stopped from outside (shutdown): left running, to be resumed.
		ru.journal(bg, store.RolloutEvent{Step: StepRollout, Phase: string(ironic.End), Detail: "interrupted", Error: runErr.Error()})
		return fmt.Errorf("rollout %s interrupted, resumable: %w", ru.id, runErr)
	default:
		ru.journal(bg, store.RolloutEvent{Step: StepRollout, Phase: string(ironic.End), Detail: "halted", Error: runErr.Error()})
		if err := ru.Journal.SetRolloutStatus(bg, ru.id, store.RolloutHalted, runErr.Error()); err != nil {
			return errors.Join(runErr, err)
		}
		return runErr
	}
}

// journal writes one event, then tells Events and Progress.
func (ru *run) journal(ctx context.Context, e store.RolloutEvent) error {
	e.RolloutID = ru.id
	e.At = time.Now()
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if err := ru.Journal.AppendRolloutEvent(ctx, e); err != nil {
		return err
	}
	ru.events = append(ru.events, e)
	ru.tally.add(e)
	if ru.Events != nil {
		ru.Events(e)
	}
	if ru.Progress != nil {
		ru.Progress(ru.tally.progress(ru.id, store.RolloutRunning, ""))
	}
	return nil
}

// done reports what the journal says is finished: waves and nodes.
func (ru *run) done() (waves map[int]bool, nodes map[string]bool) {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	waves, nodes = map[int]bool{}, map[string]bool{}
	for _, e := range ru.events {
		if e.Phase != string(ironic.End) || e.Error != "" {
			continue
		}
		switch e.Step {
		case StepWave:
			waves[e.Wave] = true
		case StepNode:
			nodes[e.Node] = true
		}
	}
	return waves, nodes
}

// execute runs the waves not yet done.
func (ru *run) execute(ctx context.Context) error {
	wavesDone, nodesDone := ru.done()
	var todo []plan.Wave
	var targets []ironic.Target
	for _, w := range ru.spec.Waves {
		if wavesDone[w.Number] {
			continue
		}
		todo = append(todo, w)
		for _, name := range w.Nodes {
			n, ok := ru.spec.Node(name)
			if !ok {
				return fmt.Errorf("wave %d names node %s, which the rollout does not describe", w.Number, name)
			}
			if !nodesDone[name] && n.Action != plan.Decommission {
				targets = append(targets, ru.target(n, 0))
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := ru.step(ctx, 0, "", StepPreflight, fmt.Sprintf("%d nodes", len(targets)), func() error {
		return ru.Provisioner.Preflight(ctx, targets)
	}); err != nil {
		return &HaltError{Cluster: ru.spec.Cluster, Step: StepPreflight, Err: err}
	}
	for _, w := range todo {
		if err := ru.wave(ctx, w, nodesDone); err != nil {
			return err
		}
	}
	return nil
}

// step journals begin, runs f, and journals end with f's error.
func (ru *run) step(ctx context.Context, wave int, node, step, detail string, f func() error) error {
	if err := ru.journal(ctx, store.RolloutEvent{Wave: wave, Node: node, Step: step, Phase: string(ironic.Begin), Detail: detail}); err != nil {
		return err
	}
	err := f()
	end := store.RolloutEvent{Wave: wave, Node: node, Step: step, Phase: string(ironic.End), Detail: detail}
	if err != nil {
		end.Error = err.Error()
	}
	if jerr := ru.journal(context.WithoutCancel(ctx), end); jerr != nil {
		return errors.Join(err, jerr)
	}
	return err
}

// wave deploys a wave's nodes (in parallel unless Sequential), each followed by its role's
// gates, then the cluster's gates. A failed node halts the rollout once the wave's other
// nodes, already started, have finished.
func (ru *run) wave(ctx context.Context, w plan.Wave, nodesDone map[string]bool) error {
	detail := fmt.Sprintf("%s %s: %d nodes", w.Action, w.Role, len(w.Nodes))
	if err := ru.journal(ctx, store.RolloutEvent{Wave: w.Number, Step: StepWave, Phase: string(ironic.Begin), Detail: detail}); err != nil {
		return err
	}
	errs := make([]error, len(w.Nodes))
	var wg sync.WaitGroup
	for i, name := range w.Nodes {
		if nodesDone[name] {
			continue
		}
		n, _ := ru.spec.Node(name)
		if ru.Sequential {
			errs[i] = ru.node(ctx, w.Number, n)
			if errs[i] != nil {
				break
			}
			continue
		}
		wg.Go(func() { errs[i] = ru.node(ctx, w.Number, n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return ru.haltWave(ctx, w, err)
	}
	if ru.Gates != nil {
		if err := ru.step(ctx, w.Number, "", StepWaveGate, "cluster checks", func() error { return ru.Gates.AfterWave(ctx) }); err != nil {
			return ru.haltWave(ctx, w, err)
		}
	}
	return ru.journal(ctx, store.RolloutEvent{Wave: w.Number, Step: StepWave, Phase: string(ironic.End), Detail: detail})
}

func (ru *run) haltWave(ctx context.Context, w plan.Wave, err error) error {
	if ctx.Err() != nil {
		return err
	}
	ru.journal(context.WithoutCancel(ctx), store.RolloutEvent{Wave: w.Number, Step: StepWave, Phase: string(ironic.End), Error: err.Error()})
	h := &HaltError{Cluster: ru.spec.Cluster, Wave: w.Number, Err: err}
	var ne *ironic.NodeError
	if errors.As(err, &ne) {
		h.Node, h.Step = ne.Node, string(ne.Step)
	}
	return h
}

// node deploys (or decommissions) one node and runs its role's gates.
func (ru *run) node(ctx context.Context, wave int, n Node) error {
	obs := func(ctx context.Context, e ironic.Event) error {
		je := store.RolloutEvent{Wave: wave, Node: n.Name, Step: string(e.Step), Phase: string(e.Phase), State: e.State, Detail: e.Detail}
		if e.Err != nil {
			je.Error = e.Err.Error()
		}
		return ru.journal(ctx, je)
	}
	t := ru.target(n, wave)
	var res ironic.Result
	var err error
	if n.Action == plan.Decommission {
		res, err = ru.Provisioner.Undeploy(ctx, t, obs)
	} else {
		res, err = ru.Provisioner.Deploy(ctx, t, obs)
	}
	if err != nil {
		ru.journal(context.WithoutCancel(ctx), store.RolloutEvent{Wave: wave, Node: n.Name, Step: StepNode, Phase: string(ironic.End), Error: err.Error()})
		return err
	}
	if ru.Gates != nil && n.Action != plan.Decommission {
		if err := ru.step(ctx, wave, n.Name, StepGate, string(n.Role)+" checks", func() error { return ru.Gates.AfterNode(ctx, n.Name) }); err != nil {
			ru.journal(context.WithoutCancel(ctx), store.RolloutEvent{Wave: wave, Node: n.Name, Step: StepNode, Phase: string(ironic.End), Error: err.Error()})
			return err
		}
	}
	return ru.journal(ctx, store.RolloutEvent{Wave: wave, Node: n.Name, Step: StepNode, Phase: string(ironic.End), Detail: string(res.Outcome)})
}

// before runs BeforeNode for a node that joins a running cluster. The provisioner calls it
// right before it triggers the node's deploy, so never for a node already deployed (whose
// etcd member it would take away). It runs once per node and rollout: a retried deploy finds
// it done in the journal.
func (ru *run) before(ctx context.Context, wave int, n Node) error {
	if ru.beforeDone(n.Name) {
		return nil
	}
	return ru.step(ctx, wave, n.Name, StepBefore, "before "+string(n.Action), func() error {
		if err := ru.BeforeNode(ctx, n); err != nil {
			return fmt.Errorf("preparing node %s: %w", n.Name, err)
		}
		return nil
	})
}

// beforeDone reports whether the journal has BeforeNode succeeding for node.
func (ru *run) beforeDone(node string) bool {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	for _, e := range ru.events {
		if e.Step == StepBefore && e.Node == node && e.Phase == string(ironic.End) && e.Error == "" {
			return true
		}
	}
	return false
}

// target is what the provisioner is given for a node of wave (zero for preflight).
func (ru *run) target(n Node, wave int) ironic.Target {
	t := ironic.Target{
		Node: n.Name, IronicID: n.IronicID, MACs: n.MACs, Image: n.Image,
		ImageID: n.ImageID, ConfigHash: n.ConfigHash, Rollout: ru.id,
	}
	if ru.ConfigDrive != nil {
		name, join := n.Name, JoinsExisting(ru.spec, n)
		t.ConfigDrive = func(ctx context.Context) (json.RawMessage, error) {
			return ru.ConfigDrive(ctx, name, join)
		}
	}
	if ru.BeforeNode != nil && n.Action != plan.Decommission && JoinsExisting(ru.spec, n) {
		t.BeforeTrigger = func(ctx context.Context) error { return ru.before(ctx, wave, n) }
	}
	return t
}

func revString(r plan.Revision) string {
	if r.Commit != "" {
		return r.Commit
	}
	return r.Rev
}
