package server

import (
	"context"
	"net/http"
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
		rollout.WriteReport(w, rec, spec, events, rolloutEventsShown)
	})
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
		rollout.WriteList(w, list)
	})
}
