package rollout

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// WriteReport renders one rollout as text, for people: what it is, where it stands (progress,
// nodes in flight, failures, each wave's state) and its journal, the last lastEvents events of
// it (zero: all). bot rollout status prints it; the bot's /rollouts/ID page serves it.
func WriteReport(w io.Writer, rec store.Rollout, spec Spec, events []store.RolloutEvent, lastEvents int) error {
	p := Summarize(rec.ID, spec, rec.Status, rec.Message, events)
	fmt.Fprintf(w, "rollout   %s\n", rec.ID)
	fmt.Fprintf(w, "cluster   %s of %s\n", rec.Cluster, rec.Repo)
	fmt.Fprintf(w, "source    %s\n", rec.Source)
	fmt.Fprintf(w, "from      %s\nto        %s\n", orNothing(rec.BaseCommit), orNothing(rec.HeadCommit))
	fmt.Fprintf(w, "status    %s (created %s, updated %s)\n", rec.Status, rec.Created.UTC().Format(time.RFC3339), rec.Updated.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "progress  wave %d of %d, %d of %d nodes done\n", p.Wave, p.Waves, p.Done, p.Total)
	if rec.Message != "" {
		fmt.Fprintf(w, "message   %s\n", rec.Message)
	}
	if len(p.Current) > 0 {
		fmt.Fprintln(w, "\nin flight")
		for _, c := range p.Current {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	if len(p.Failed) > 0 {
		fmt.Fprintln(w, "\nfailed")
		for _, f := range p.Failed {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	fmt.Fprintln(w, "\nwaves")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, wave := range spec.Waves {
		state := "waiting"
		switch {
		case rec.Status == store.RolloutSucceeded || wave.Number < p.Wave:
			state = "done"
		case wave.Number == p.Wave && rec.Status == store.RolloutHalted:
			state = "halted"
		case wave.Number == p.Wave:
			state = "in progress"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", wave.Number, wave.Role, wave.Action, strings.Join(wave.Nodes, " "), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	shown := events
	fmt.Fprintf(w, "\njournal (%d events", len(events))
	if lastEvents > 0 && len(shown) > lastEvents {
		shown = shown[len(shown)-lastEvents:]
		fmt.Fprintf(w, ", the last %d", lastEvents)
	}
	fmt.Fprintln(w, ")")
	tw = tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, e := range shown {
		wave := "-"
		if e.Wave > 0 {
			wave = fmt.Sprintf("wave %d", e.Wave)
		}
		line := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s", e.At.UTC().Format("2006-01-02 15:04:05.000"), wave, orDash(e.Node), e.Step, e.Phase)
		if e.State != "" {
			line += " [" + e.State + "]"
		}
		if e.Detail != "" {
			line += " " + e.Detail
		}
		if e.Error != "" {
			line += " ERROR: " + e.Error
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// WriteList renders rollouts as a table, a line each.
func WriteList(w io.Writer, list []store.Rollout) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no rollouts")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREPO\tCLUSTER\tSTATUS\tHEAD\tSOURCE\tUPDATED")
	for _, x := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.12s\t%s\t%s\n", x.ID, x.Repo, x.Cluster, x.Status, x.HeadCommit, x.Source, x.Updated.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func orNothing(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
