package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// rolloutEventsShown is how many of a rollout's latest events its page
// shows.
const rolloutEventsShown = 200

// rolloutPage is GET /rollouts/{id}: a rollout's status and progress and
// the end of its journal, as plain text. It is read-only and shows no
// secret (config drives are never journaled), so it can be linked from
// GitHub: deployments' log_url and the apply check runs' details.
func rolloutPage(st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		id := r.PathValue("id")
		rec, err := st.Rollout(ctx, id)
		if store.IsNotFound(err) {
			http.Error(w, "no rollout "+id, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "the store did not answer", http.StatusServiceUnavailable)
			return
		}
		events, err := st.RolloutEvents(ctx, id, 0)
		if err != nil {
			http.Error(w, "the store did not answer", http.StatusServiceUnavailable)
			return
		}
		spec, err := rollout.UnmarshalSpec(rec.Spec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		writeRollout(w, rec, spec, events)
	})
}

// writeRollout renders one rollout as text.
func writeRollout(w io.Writer, rec store.Rollout, spec rollout.Spec, events []store.RolloutEvent) {
	p := rollout.Summarize(rec.ID, spec, rec.Status, rec.Message, events)
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
	tw.Flush()
	shown := events
	fmt.Fprintf(w, "\njournal (%d events", len(events))
	if len(shown) > rolloutEventsShown {
		shown = shown[len(shown)-rolloutEventsShown:]
		fmt.Fprintf(w, ", the last %d", rolloutEventsShown)
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
	tw.Flush()
}

// rolloutList is GET /rollouts/: the latest rollouts, newest first.
func rolloutList(st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		list, err := st.Rollouts(ctx, store.RolloutFilter{Limit: 100})
		if err != nil {
			http.Error(w, "the store did not answer", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(list) == 0 {
			fmt.Fprintln(w, "no rollouts")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tREPO\tCLUSTER\tSTATUS\tHEAD\tSOURCE\tUPDATED")
		for _, x := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.12s\t%s\t%s\n", x.ID, x.Repo, x.Cluster, x.Status, x.HeadCommit, x.Source, x.Updated.UTC().Format(time.RFC3339))
		}
		tw.Flush()
	})
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
