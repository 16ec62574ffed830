package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

const rolloutUsage = `Usage:
  bot rollout status [ID] [--data-dir DIR | --database-url URL]
      Without ID: the recent rollouts. With ID: its progress and journal.
  bot rollout resume ID [--repo DIR] [--ironic-url URL] [flags]
      Resume a rollout that was cut off or halted; what is done on Ironic is skipped.
`

func runRollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rolloutUsage)
		return errors.New("missing subcommand: status or resume")
	}
	switch args[0] {
	case "status":
		return runRolloutStatus(ctx, args[1:], stdout, stderr)
	case "resume":
		return runRolloutResume(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, rolloutUsage)
		return errHelp
	default:
		return fmt.Errorf("unknown subcommand %q: status or resume", args[0])
	}
}

func runRolloutStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f rolloutFlags
	fs := newFlagSet("rollout status", "[ID] [flags]", stderr)
	f.register(fs)
	all := fs.Bool("journal", false, "print the whole journal of the rollout")
	ids, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(ids) > 1 {
		return fmt.Errorf("unexpected argument %q", ids[1])
	}
	st, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(ids) == 0 {
		list, err := st.Rollouts(ctx, store.RolloutFilter{})
		if err != nil {
			return err
		}
		return rollout.WriteList(stdout, list)
	}
	id := ids[0]
	rec, err := st.Rollout(ctx, id)
	if err != nil {
		return err
	}
	spec, err := rollout.UnmarshalSpec(rec.Spec)
	if err != nil {
		return err
	}
	events, err := st.RolloutEvents(ctx, id, 0)
	if err != nil {
		return err
	}
	last := 20
	if *all {
		last = 0
	}
	return rollout.WriteReport(stdout, rec, spec, events, last)
}

func runRolloutResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f rolloutFlags
	fs := newFlagSet("rollout resume", "ID [flags]", stderr)
	f.register(fs)
	ids, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return errors.New("give one rollout id (bot rollout status lists them)")
	}
	id := ids[0]
	st, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := st.Rollout(ctx, id)
	if err != nil {
		return err
	}
	if rec.Status == store.RolloutSucceeded {
		fmt.Fprintf(stdout, "rollout %s already succeeded\n", id)
		return nil
	}
	spec, err := rollout.UnmarshalSpec(rec.Spec)
	if err != nil {
		return err
	}
	head, err := readHead(ctx, fleet.NewReader(), f.repo, spec.Head.Commit)
	if err != nil {
		return err
	}
	gates, err := f.gates(head.Repo, spec.Cluster)
	if err != nil {
		return err
	}
	runner, err := f.runner(ctx, st, head.Repo, spec.Cluster, gates, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bot rollout: resuming %s (%s)\n", id, rec.Status)
	return finishRollout(ctx, runner, st, id, stdout)
}
