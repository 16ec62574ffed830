package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Provisioner deploys nodes through an API: Preflight checks them, Deploy (re)images one,
// Undeploy tears one down. It keeps no state of its own between calls: everything it needs to
// resume is recorded on the Ironic node. It is safe for concurrent use on distinct nodes.
type Provisioner struct {
	api  API
	cfg  Config // with defaults
	http *http.Client
	// durations learns how long Ironic takes to reach a state after a change, so that waits
	// poll often only when the state is due (see pollDelay).
	durations *durations
}

// NewProvisioner returns a provisioner working through api, with the timings of cfg (its URL,
// credentials and microversion are api's business and ignored here, except that Preflight
// checks the server supports cfg's microversion).
func NewProvisioner(api API, cfg Config) *Provisioner {
	cfg, _ = cfg.withDefaults() // a bad microversion is the client's to refuse
	return &Provisioner{api: api, cfg: cfg, http: cfg.HTTPClient, durations: &durations{}}
}

// New returns a provisioner of the Ironic at cfg.URL. Unlike NewClient it does not contact
// Ironic: Preflight does.
func New(cfg Config) (*Provisioner, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return NewProvisioner(c, cfg), nil
}

// Result is what Deploy or Undeploy did to a node.
type Result struct {
	Outcome Outcome
	// State is the node's provision state when Deploy returned.
	State string
	// Triggered lists the provision state changes asked of Ironic, in order: "manage",
	// "provide", "active", "rebuild", "deleted".
	Triggered []string
	// Duration is how long the call took.
	Duration time.Duration
}

// NodeError is why a node could not be deployed: which node, at which step, and what Ironic
// said. Err is ErrFailed when Ironic reports a failure state (LastError says why),
// ErrTimeout, an *APIError, ctx's error, or what else went wrong.
type NodeError struct {
	Node, IronicID string
	Step           Step
	// State is the node's provision state as last seen, when it matters.
	State string
	// LastError is Ironic's last_error of the node, when it matters.
	LastError string
	Err       error
}

func (e *NodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s (%s): step %s", e.Node, e.IronicID, e.Step)
	if e.State != "" {
		fmt.Fprintf(&b, ": provision state %q", e.State)
	}
	// ErrFailed says nothing last_error does not say better.
	if e.Err != nil && !(errors.Is(e.Err, ErrFailed) && e.LastError != "") {
		b.WriteString(": " + e.Err.Error())
	}
	if e.LastError != "" {
		b.WriteString(": " + e.LastError)
	}
	return b.String()
}

func (e *NodeError) Unwrap() error { return e.Err }

// Errors of a node's state, in NodeError.Err.
var (
	// ErrMaintenance: the node is in maintenance; an operator put it there.
	ErrMaintenance = errors.New("in maintenance")
	// ErrBusy: Ironic is working on the node (deploying, cleaning, …) for someone else.
	ErrBusy = errors.New("ironic is working on the node for someone else")
	// ErrUnhandledState: the node is in a provision state this package does not deploy from
	// ("clean failed", "error", "inspect failed", …); an operator must look at it.
	ErrUnhandledState = errors.New("cannot deploy from this provision state")
	// ErrInvalidTarget: the target lacks what a deploy needs (Ironic id, image, …).
	ErrInvalidTarget = errors.New("invalid target")
)

// pending is the value of extra[ExtraPending].
type pending struct {
	ImageID            string
	ConfigHash         string
	Rollout            string
	ProvisionUpdatedAt string
}

func pendingOf(n Node) (pending, bool) {
	m, ok := n.Extra[ExtraPending].(map[string]any)
	if !ok {
		return pending{}, false
	}
	return pending{
		ImageID: str(m["image_id"]), ConfigHash: str(m["config_hash"]),
		Rollout: str(m["rollout"]), ProvisionUpdatedAt: str(m["provision_updated_at"]),
	}, true
}

func (p pending) value() map[string]any {
	return map[string]any{
		"image_id": p.ImageID, "config_hash": p.ConfigHash, "rollout": p.Rollout,
		"provision_updated_at": p.ProvisionUpdatedAt,
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// run is one Deploy or Undeploy of one node.
type run struct {
	p    *Provisioner
	t    Target
	obs  Observer
	node Node // as last read or written
	res  Result
	// changed is when this run's last provision state change was accepted; zero when the
	// change being waited for was made by an earlier run.
	changed time.Time
}

// Deploy brings t's node to t's image and config and records them on the node. It decides
// from what Ironic says alone, so it can be run again after being interrupted anywhere:
//
//   - a node that carries t's image id and config hash and is active is left alone (Skipped,
//     no write at all);
//   - a deploy of the same image and config that an earlier run triggered is waited for, or
//     just recorded if it finished (Resumed), or triggered again if it failed;
//   - a deploy prepared but never triggered is triggered;
//   - otherwise the node is made available if need be (manage, provide), prepared (one PATCH
//     of instance_info and extra[ExtraPending]), triggered (deploy from available, rebuild
//     from active or deploy failed, with t's config drive), waited for and finalized (one
//     PATCH recording image id, config hash and rollout in extra).
//
// Its errors are *NodeError, or the Observer's error wrapped.
func (p *Provisioner) Deploy(ctx context.Context, t Target, obs Observer) (Result, error) {
	r := &run{p: p, t: t, obs: obs}
	start := time.Now()
	err := r.deploy(ctx)
	r.res.State = r.node.ProvisionState
	r.res.Duration = time.Since(start)
	return r.res, err
}

func (r *run) deploy(ctx context.Context) error {
	if err := r.t.validate(); err != nil {
		return r.fail(StepObserve, err)
	}
	if err := r.observe(ctx); err != nil {
		return err
	}
	n := r.node
	pend, hasPend := pendingOf(n)
	deployed := str(n.Extra[ExtraImageID]) == r.t.ImageID && str(n.Extra[ExtraConfigHash]) == r.t.ConfigHash
	ours := hasPend && pend.ImageID == r.t.ImageID && pend.ConfigHash == r.t.ConfigHash
	triggered := ours && n.ProvisionUpdatedAt != pend.ProvisionUpdatedAt
	state := n.ProvisionState
	switch {
	case n.Maintenance:
		return r.endObserve(ctx, "", r.fail(StepObserve, maintenanceErr(n)))
	case deployed && state == stateActive && (!hasPend || triggered):
		r.res.Outcome = Skipped
		return r.endObserve(ctx, "already deployed", nil)
	case ours && deployTransitional(state):
		// Our deploy is in flight: see it to its end.
		if err := r.endObserve(ctx, "deploy in flight", nil); err != nil {
			return err
		}
		if err := r.wait(ctx, stateActive, pend.ProvisionUpdatedAt); err != nil {
			return err
		}
		r.res.Outcome = Resumed
		return r.finalize(ctx)
	case triggered && state == stateActive:
		if err := r.endObserve(ctx, "deployed, not recorded", nil); err != nil {
			return err
		}
		r.res.Outcome = Resumed
		return r.finalize(ctx)
	case triggered && state == stateDeployFailed && r.prepared(n):
		// It failed; resuming is asking for it again.
		if err := r.endObserve(ctx, "deploy failed, trying again", nil); err != nil {
			return err
		}
		return r.triggerDeploy(ctx)
	case ours && !triggered && canTrigger(state) && r.prepared(n):
		if err := r.endObserve(ctx, "prepared, not triggered", nil); err != nil {
			return err
		}
		return r.triggerDeploy(ctx)
	}
	return r.fresh(ctx)
}

// endObserve ends the observe step with what was decided, or err.
func (r *run) endObserve(ctx context.Context, detail string, err error) error {
	if oerr := r.emit(ctx, StepObserve, End, detail, err); oerr != nil && err == nil {
		return oerr
	}
	return err
}

// fresh walks the node to a state it can be deployed from, then prepares, triggers, waits and
// finalizes.
func (r *run) fresh(ctx context.Context) error {
	switch state := r.node.ProvisionState; {
	case deployTransitional(state) || state == stateDeleting:
		return r.endObserve(ctx, "", r.fail(StepObserve, ErrBusy))
	case !canTrigger(state) && !waitable(state) && state != stateEnroll && state != stateManageable:
		return r.endObserve(ctx, "", r.fail(StepObserve, ErrUnhandledState))
	}
	detail := "deploy"
	if r.node.ProvisionState == stateActive || r.node.ProvisionState == stateDeployFailed {
		detail = "rebuild"
	}
	if err := r.endObserve(ctx, detail, nil); err != nil {
		return err
	}
	for !canTrigger(r.node.ProvisionState) {
		n := r.node
		switch state := n.ProvisionState; {
		case state == stateEnroll:
			if err := r.change(ctx, StepManage, "manage", nil); err != nil {
				return err
			}
			if err := r.wait(ctx, stateManageable, n.ProvisionUpdatedAt); err != nil {
				return err
			}
		case state == stateManageable:
			if err := r.change(ctx, StepProvide, "provide", nil); err != nil {
				return err
			}
			if err := r.wait(ctx, stateAvailable, n.ProvisionUpdatedAt); err != nil {
				return err
			}
		case state == stateVerifying:
			if err := r.wait(ctx, stateManageable, ""); err != nil {
				return err
			}
		case state == stateCleaning || state == stateCleanWait:
			if err := r.wait(ctx, stateAvailable, ""); err != nil {
				return err
			}
		case deployTransitional(state) || state == stateDeleting:
			return r.fail(StepObserve, ErrBusy)
		default:
			return r.fail(StepObserve, ErrUnhandledState)
		}
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	return r.triggerDeploy(ctx)
}

// triggerDeploy deploys (from available) or rebuilds (from active or deploy failed) the
// prepared node, waits for it and finalizes.
func (r *run) triggerDeploy(ctx context.Context) error {
	since := r.node.ProvisionUpdatedAt
	target := "rebuild"
	if r.node.ProvisionState == stateAvailable {
		target = "active"
	}
	if r.t.BeforeTrigger != nil {
		if err := r.t.BeforeTrigger(ctx); err != nil {
			return r.fail(StepTrigger, err)
		}
	}
	if err := r.change(ctx, StepTrigger, target, r.t.ConfigDrive); err != nil {
		return err
	}
	if err := r.wait(ctx, stateActive, since); err != nil {
		return err
	}
	r.res.Outcome = Deployed
	return r.finalize(ctx)
}

// canTrigger reports whether a prepared node in state can be deployed or rebuilt.
func canTrigger(state string) bool {
	return state == stateAvailable || state == stateActive || state == stateDeployFailed
}

// deployTransitional reports whether state is a step of a deploy or rebuild under way.
func deployTransitional(state string) bool {
	return state == stateDeploying || state == stateWaitCallback || state == stateDeployDone
}

// prepared reports whether the node's instance_info is what prepare writes for t.
func (r *run) prepared(n Node) bool {
	ii := n.InstanceInfo
	return str(ii["image_source"]) == r.t.Image.URL && str(ii["image_os_hash_value"]) == r.t.Image.SHA256
}

func maintenanceErr(n Node) error {
	if n.MaintenanceReason == "" {
		return ErrMaintenance
	}
	return fmt.Errorf("%w: %s", ErrMaintenance, n.MaintenanceReason)
}

func (t Target) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"Ironic id", t.IronicID}, {"image id", t.ImageID}, {"config hash", t.ConfigHash}, {"image URL", t.Image.URL},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s", ErrInvalidTarget, strings.Join(missing, ", no "))
	}
	return nil
}

// observe reads the node (StepObserve, Begin only: the caller ends the step with what it
// decided).
func (r *run) observe(ctx context.Context) error {
	if err := r.emit(ctx, StepObserve, Begin, "read the node", nil); err != nil {
		return err
	}
	n, err := r.p.api.GetNode(ctx, r.t.IronicID)
	if err != nil {
		err = r.fail(StepObserve, err)
		if oerr := r.emit(ctx, StepObserve, End, "", err); oerr != nil {
			return oerr
		}
		return err
	}
	r.node = n
	return nil
}

// prepare writes instance_info and extra[ExtraPending] in one PATCH.
func (r *run) prepare(ctx context.Context) error {
	img := r.t.Image
	ops := []PatchOp{
		addOp("/instance_info/image_source", img.URL),
		addOp("/instance_info/image_os_hash_algo", "sha256"),
		addOp("/instance_info/image_os_hash_value", img.SHA256),
	}
	if img.Format != "" {
		ops = append(ops, addOp("/instance_info/image_disk_format", img.Format))
	}
	if img.Kind == "partition" {
		ops = append(ops,
			addOp("/instance_info/kernel", img.KernelURL),
			addOp("/instance_info/ramdisk", img.RamdiskURL),
			addOp("/instance_info/root_gb", img.RootGB))
	} else {
		// A whole-disk image: what a partition image left would make Ironic treat it as one.
		for _, k := range []string{"kernel", "ramdisk", "root_gb"} {
			if _, ok := r.node.InstanceInfo[k]; ok {
				ops = append(ops, removeOp("/instance_info/"+k))
			}
		}
	}
	p := pending{ImageID: r.t.ImageID, ConfigHash: r.t.ConfigHash, Rollout: r.t.Rollout,
		ProvisionUpdatedAt: r.node.ProvisionUpdatedAt}
	ops = append(ops, addOp("/extra/"+ExtraPending, p.value()))
	return r.patch(ctx, StepPrepare, "image "+r.t.ImageID+", config "+r.t.ConfigHash, ops)
}

// finalize records the deployed image id, config hash and rollout, and drops the pending
// marker, in one PATCH.
func (r *run) finalize(ctx context.Context) error {
	ops := []PatchOp{
		addOp("/extra/"+ExtraImageID, r.t.ImageID),
		addOp("/extra/"+ExtraConfigHash, r.t.ConfigHash),
		addOp("/extra/"+ExtraRollout, r.t.Rollout),
	}
	if _, ok := r.node.Extra[ExtraPending]; ok {
		ops = append(ops, removeOp("/extra/"+ExtraPending))
	}
	return r.patch(ctx, StepFinalize, "record image "+r.t.ImageID+", config "+r.t.ConfigHash, ops)
}

func (r *run) patch(ctx context.Context, step Step, detail string, ops []PatchOp) error {
	if err := r.emit(ctx, step, Begin, detail, nil); err != nil {
		return err
	}
	n, err := r.p.api.PatchNode(ctx, r.t.IronicID, ops)
	if err != nil {
		err = r.fail(step, err)
	} else {
		r.node = n
	}
	if oerr := r.emit(ctx, step, End, detail, err); oerr != nil && err == nil {
		return oerr
	}
	return err
}

// change asks Ironic for a provision state change, with the config drive that configDrive
// builds (when not nil), built right before the request.
func (r *run) change(ctx context.Context, step Step, target string, configDrive func(context.Context) (json.RawMessage, error)) error {
	if err := r.emit(ctx, step, Begin, target, nil); err != nil {
		return err
	}
	err := func() error {
		var cd json.RawMessage
		if configDrive != nil {
			var err error
			if cd, err = configDrive(ctx); err != nil {
				return r.fail(step, fmt.Errorf("building the config drive: %w", err))
			}
		}
		if err := r.p.api.SetProvisionState(ctx, r.t.IronicID, target, cd); err != nil {
			return r.fail(step, err)
		}
		r.res.Triggered = append(r.res.Triggered, target)
		r.changed = time.Now()
		return nil
	}()
	if oerr := r.emit(ctx, step, End, target, err); oerr != nil && err == nil {
		return oerr
	}
	return err
}

// failureStates end a wait at once.
var failureStates = map[string]bool{stateDeployFailed: true, stateError: true, stateCleanFailed: true}

// wait polls the node until it is stable in want, a failure state, or Config.Timeout passed.
// since is the node's provision_updated_at before the change waited for ("" when the change
// is already under way): a node still stable in its old state has not started yet.
func (r *run) wait(ctx context.Context, want, since string) error {
	if err := r.emit(ctx, StepWait, Begin, "until "+want, nil); err != nil {
		return err
	}
	err := r.poll(ctx, want, since)
	if oerr := r.emit(ctx, StepWait, End, r.node.ProvisionState, err); oerr != nil && err == nil {
		return oerr
	}
	return err
}

func (r *run) poll(ctx context.Context, want, since string) error {
	timeout := r.p.cfg.Timeout
	deadline := time.Now().Add(timeout)
	changed := r.changed
	r.changed = time.Time{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := r.p.api.GetNode(ctx, r.t.IronicID)
		if err != nil {
			return r.fail(StepWait, err)
		}
		r.node = n
		state := n.ProvisionState
		moved := since == "" || n.ProvisionUpdatedAt != since
		switch {
		case failureStates[state]:
			return &NodeError{Node: r.t.Node, IronicID: r.t.IronicID, Step: StepWait, State: state,
				LastError: n.LastError, Err: ErrFailed}
		case n.TargetProvisionState == "" && state == want && moved:
			if !changed.IsZero() {
				r.p.durations.observe(want, time.Since(changed))
			}
			return nil
		case n.TargetProvisionState == "" && state != want && moved && !waitable(state):
			// Stable somewhere else: the change was refused or undone (a failed manage
			// goes back to enroll).
			return &NodeError{Node: r.t.Node, IronicID: r.t.IronicID, Step: StepWait, State: state,
				LastError: n.LastError, Err: fmt.Errorf("%w: stopped in %q, not %q", ErrFailed, state, want)}
		}
		if time.Now().After(deadline) {
			return &NodeError{Node: r.t.Node, IronicID: r.t.IronicID, Step: StepWait, State: state,
				Err: fmt.Errorf("%w: not %q after %v", ErrTimeout, want, timeout)}
		}
		elapsed := time.Duration(-1)
		if !changed.IsZero() {
			elapsed = time.Since(changed)
		}
		timer.Reset(r.p.pollDelay(want, elapsed))
		select {
		case <-ctx.Done():
			return r.fail(StepWait, ctx.Err())
		case <-timer.C:
		}
	}
}

// pollDelay is how long a wait for want sleeps before its next read, elapsed after the change
// (negative when unknown). Polling every PollInterval finds a node active half an interval
// late on average, per wave. Once a change to want has been seen to take about d, a wait polls
// at a quarter of the interval from half an interval before d is due to two intervals after:
// the node is found active a few hundred milliseconds after it is. Before that window it polls
// every four intervals, which still notices an early failure soon and spares Ironic most of
// the reads of a long deploy; after it, at the interval.
func (p *Provisioner) pollDelay(want string, elapsed time.Duration) time.Duration {
	base := p.cfg.PollInterval
	fine := max(base/4, minPollInterval)
	d, ok := p.durations.expected(want)
	if !ok || elapsed < 0 {
		return base
	}
	switch from, until := d-base/2, d+2*base; {
	case elapsed >= until:
		return base
	case elapsed >= from:
		return fine
	default:
		return min(4*base, max(from-elapsed, fine))
	}
}

// durations remembers how long changes to each state took: a moving average, by state. It
// is safe for concurrent use.
type durations struct {
	mu   sync.Mutex
	mean map[string]time.Duration
}

func (d *durations) observe(state string, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mean == nil {
		d.mean = map[string]time.Duration{}
	}
	if old, ok := d.mean[state]; ok {
		took = (old + took) / 2
	}
	d.mean[state] = took
}

func (d *durations) expected(state string) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	took, ok := d.mean[state]
	return took, ok
}

// waitable reports whether state is one a node passes through on its way somewhere.
func waitable(state string) bool {
	return deployTransitional(state) || state == stateVerifying || state == stateCleaning ||
		state == stateCleanWait || state == stateDeleting
}

// fail wraps err in a NodeError of the node at step, with its state as last seen.
func (r *run) fail(step Step, err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return err
	}
	e := &NodeError{Node: r.t.Node, IronicID: r.t.IronicID, Step: step, State: r.node.ProvisionState, Err: err}
	if errors.Is(err, ErrUnhandledState) || errors.Is(err, ErrBusy) {
		e.LastError = r.node.LastError
	}
	return e
}

// emit tells the observer of an event; its error stops the deploy before the next Ironic call.
func (r *run) emit(ctx context.Context, step Step, phase Phase, detail string, err error) error {
	if r.obs == nil {
		return nil
	}
	e := Event{Node: r.t.Node, IronicID: r.t.IronicID, Step: step, Phase: phase,
		State: r.node.ProvisionState, Detail: detail, Err: err}
	if oerr := r.obs(ctx, e); oerr != nil {
		return fmt.Errorf("node %s (%s): observer at %s %s: %w", r.t.Node, r.t.IronicID, step, phase, oerr)
	}
	return nil
}
