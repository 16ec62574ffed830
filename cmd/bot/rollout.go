package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

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
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no rollouts")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLUSTER\tSTATUS\tHEAD\tSOURCE\tUPDATED")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%s\t%s\n", r.ID, r.Cluster, r.Status, r.HeadCommit, r.Source, r.Updated.Format("2006-01-02 15:04:05"))
		}
		return tw.Flush()
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
	p := rollout.Summarize(id, spec, rec.Status, rec.Message, events)
	fmt.Fprintf(stdout, "rollout %s of %s (%s → %s, from %s): %s\n", id, rec.Cluster, short(rec.BaseCommit), short(rec.HeadCommit), rec.Source, rec.Status)
	fmt.Fprintf(stdout, "  %s\n", p)
	if rec.Message != "" {
		fmt.Fprintf(stdout, "  %s\n", rec.Message)
	}
	shown := events
	if !*all && len(shown) > 20 {
		shown = shown[len(shown)-20:]
		fmt.Fprintf(stdout, "  … %d earlier events (--journal shows all)\n", len(events)-20)
	}
	for _, e := range shown {
		fmt.Fprintf(stdout, "  %s  %s\n", e.At.Format("15:04:05.000"), eventLine(e))
	}
	return nil
}

// eventLine renders one journal event.
func eventLine(e store.RolloutEvent) string {
	where := fmt.Sprintf("wave %d", e.Wave)
	if e.Wave == 0 {
		where = "-"
	}
	line := fmt.Sprintf("%-8s %-10s %-10s %-5s", where, e.Node, e.Step, e.Phase)
	if e.State != "" {
		line += " [" + e.State + "]"
	}
	if e.Detail != "" {
		line += " " + e.Detail
	}
	if e.Error != "" {
		line += " ERROR: " + e.Error
	}
	return line
}

func short(sha string) string {
	if sha == "" {
		return "working tree"
	}
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
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
