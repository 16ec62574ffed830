// Package ironic provisions bare-metal nodes through OpenStack Ironic's bare metal API, with
// gophercloud v2 and an explicit API microversion. It writes a node's instance_info and records
// in the node's extra the image id and config hash it is being given, moves the node through
// Ironic's provision states (manage, provide, deploy, rebuild) and waits for the result. What
// is recorded on Ironic is what makes a deploy resumable: a node that already carries the
// wanted image id and config hash is left alone, a node whose deploy is in flight is observed
// rather than triggered again.
//
// Undeploy tears a decommissioned node down the same way, resumably. The package also checks
// a set of nodes before anything is changed (Preflight), registers inventory servers
// (Enroll), and records the calls a run would make without making them (Recorder, for dry
// runs).
package ironic

import (
	"context"
	"encoding/json"
)

// Keys of the node's extra field that this package owns.
const (
	// ExtraImageID and ExtraConfigHash are what the node was last deployed with, written once
	// the deploy finished.
	ExtraImageID    = "cac_image_id"
	ExtraConfigHash = "cac_config_hash"
	// ExtraRollout names the rollout that last deployed the node, for operators.
	ExtraRollout = "cac_rollout"
	// ExtraPending is what the node is being given: written before the deploy is triggered
	// and removed when it finished. It holds the wanted image id, config hash, rollout and
	// the node's provision_updated_at at the time it was written, which tells a resumed run
	// whether the trigger went out (Ironic changes provision_updated_at on every transition).
	ExtraPending = "cac_pending"
)

// Image is what Ironic deploys: written to the node's instance_info.
type Image struct {
	// URL is instance_info.image_source: where the deploy ramdisk downloads the image.
	URL string
	// SHA256 is the hex digest of the file at URL (image_os_hash_algo sha256,
	// image_os_hash_value).
	SHA256 string
	// Kind is "whole-disk" or "partition" (artifacts.KindWholeDisk, KindPartition).
	Kind string
	// Format is the file's format: "qcow2" or "raw" (instance_info.image_disk_format).
	Format string
	// KernelURL, RamdiskURL and RootGB are for partition images only.
	KernelURL  string
	RamdiskURL string
	RootGB     int
}

// Target is one node to deploy and what it is to be given.
type Target struct {
	// Node is the node's name in the fleet repository; every message names it.
	Node     string
	IronicID string
	// MACs are the inventory's MAC addresses of the node's NICs, lower case; preflight
	// checks them against the node's Ironic ports.
	MACs    []string
	Image   Image
	ImageID string
	// ConfigHash identifies the node's machine configuration (the plan's config_hash).
	ConfigHash string
	// Rollout is the id of the rollout deploying the node, recorded in extra.
	Rollout string
	// ConfigDrive builds the node's config drive in Ironic's dict form (meta_data,
	// network_data, user_data). It is called at most once per trigger, right before it; its
	// result holds secrets and is never logged, recorded or shown.
	ConfigDrive func(ctx context.Context) (json.RawMessage, error)
	// BeforeTrigger, when set, runs right before the deploy or rebuild is triggered, and only
	// when one is: not for a node already deployed, nor for one whose deploy is in flight. Its
	// error stops the deploy before the trigger (a NodeError at StepTrigger). The rollout
	// replaces a master's etcd member here.
	BeforeTrigger func(ctx context.Context) error
}

// Step names one step of a node's deploy; each Ironic call belongs to one.
type Step string

// The steps of a deploy, in the order they can happen.
const (
	StepObserve  Step = "observe"  // read the node: state, extra
	StepManage   Step = "manage"   // enroll → manageable
	StepProvide  Step = "provide"  // manageable → available (cleaning)
	StepPrepare  Step = "prepare"  // PATCH instance_info and extra.cac_pending
	StepTrigger  Step = "trigger"  // deploy (available → active) or rebuild (active, deploy failed)
	StepWait     Step = "wait"     // poll until active, or a failure state
	StepFinalize Step = "finalize" // PATCH extra: record image id and config hash, drop cac_pending
	// StepUndeploy asks Ironic to tear the node down (target "deleted"); Undeploy only.
	StepUndeploy Step = "undeploy"
)

// Phase says whether an event comes before or after a step's Ironic call.
type Phase string

// The phases.
const (
	Begin Phase = "begin"
	End   Phase = "end"
)

// Event reports one step of one node, before (Begin) and after (End) its Ironic call. An End
// event carries the error, if the call failed.
type Event struct {
	Node     string
	IronicID string
	Step     Step
	Phase    Phase
	// State is the node's provision state as last seen.
	State string
	// Detail says what the step does or found: "rebuild", "already deployed", ….
	Detail string
	Err    error
}

// Observer is told of every event, synchronously, in order. Returning an error stops the
// deploy before its next Ironic call: the rollout journal uses that to never run a step it
// could not record.
type Observer func(ctx context.Context, e Event) error

// Outcome says what Deploy did to a node.
type Outcome string

// The outcomes.
const (
	// Skipped: the node already carried the wanted image id and config hash and was active.
	Skipped Outcome = "skipped"
	// Deployed: the deploy was triggered and finished.
	Deployed Outcome = "deployed"
	// Resumed: a deploy triggered before (by an earlier, interrupted run) was observed to
	// the end and not triggered again. For Undeploy: an undeploy under way or done but not
	// recorded was seen to its end.
	Resumed Outcome = "resumed"
	// Undeployed: Undeploy tore the node down (target "deleted") and it is available again.
	Undeployed Outcome = "undeployed"
)
