package ironic

import (
	"context"
	"fmt"
	"time"
)

// Undeploy tears t's node down (provision target "deleted": Ironic wipes instance_info and
// cleans the node) and waits until it is available again, then removes what Deploy recorded in
// extra and records t.Rollout. Like Deploy it decides from Ironic alone: a node already
// available with nothing recorded is Skipped, an undeploy under way or done but not recorded
// is seen to its end (Resumed). Only t.Node and t.IronicID (and t.Rollout) are used.
func (p *Provisioner) Undeploy(ctx context.Context, t Target, obs Observer) (Result, error) {
	r := &run{p: p, t: t, obs: obs}
	start := time.Now()
	err := r.undeploy(ctx)
	r.res.State = r.node.ProvisionState
	r.res.Duration = time.Since(start)
	return r.res, err
}

func (r *run) undeploy(ctx context.Context) error {
	if r.t.IronicID == "" {
		return r.fail(StepObserve, fmt.Errorf("%w: no Ironic id", ErrInvalidTarget))
	}
	if err := r.observe(ctx); err != nil {
		return err
	}
	n := r.node
	switch state := n.ProvisionState; {
	case n.Maintenance:
		return r.endObserve(ctx, "", r.fail(StepObserve, maintenanceErr(n)))
	case state == stateAvailable || state == stateManageable || state == stateEnroll:
		if !r.recorded() {
			r.res.Outcome = Skipped
			return r.endObserve(ctx, "not deployed", nil)
		}
		if err := r.endObserve(ctx, "undeployed, not recorded", nil); err != nil {
			return err
		}
		r.res.Outcome = Resumed
		return r.finalizeUndeploy(ctx)
	case state == stateDeleting || state == stateCleaning || state == stateCleanWait:
		if err := r.endObserve(ctx, "undeploy in flight", nil); err != nil {
			return err
		}
		if err := r.wait(ctx, stateAvailable, ""); err != nil {
			return err
		}
		r.res.Outcome = Resumed
		if !r.recorded() {
			return nil
		}
		return r.finalizeUndeploy(ctx)
	case state == stateActive || state == stateDeployFailed:
		if err := r.endObserve(ctx, "undeploy", nil); err != nil {
			return err
		}
		if err := r.change(ctx, StepUndeploy, "deleted", nil); err != nil {
			return err
		}
		if err := r.wait(ctx, stateAvailable, n.ProvisionUpdatedAt); err != nil {
			return err
		}
		r.res.Outcome = Undeployed
		return r.finalizeUndeploy(ctx)
	case deployTransitional(state):
		return r.endObserve(ctx, "", r.fail(StepObserve, ErrBusy))
	default:
		return r.endObserve(ctx, "", r.fail(StepObserve, ErrUnhandledState))
	}
}

// recorded reports whether the node carries any of what Deploy writes in extra.
func (r *run) recorded() bool {
	for _, k := range []string{ExtraImageID, ExtraConfigHash, ExtraPending} {
		if _, ok := r.node.Extra[k]; ok {
			return true
		}
	}
	return false
}

// finalizeUndeploy removes the image id, config hash and pending marker and records the
// rollout, in one PATCH.
func (r *run) finalizeUndeploy(ctx context.Context) error {
	var ops []PatchOp
	for _, k := range []string{ExtraImageID, ExtraConfigHash, ExtraPending} {
		if _, ok := r.node.Extra[k]; ok {
			ops = append(ops, removeOp("/extra/"+k))
		}
	}
	ops = append(ops, addOp("/extra/"+ExtraRollout, r.t.Rollout))
	return r.patch(ctx, StepFinalize, "record the undeploy", ops)
}
