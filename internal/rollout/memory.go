package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// MemoryJournal is a Journal that keeps everything in memory: for dry runs, which must leave
// no trace in the bot's store.
type MemoryJournal struct {
	mu       sync.Mutex
	rollouts map[string]store.Rollout
	events   []store.RolloutEvent
	deployed map[string]store.Deployment
	leases   map[string]string
}

// NewMemoryJournal returns an empty journal.
func NewMemoryJournal() *MemoryJournal {
	return &MemoryJournal{rollouts: map[string]store.Rollout{}, deployed: map[string]store.Deployment{}, leases: map[string]string{}}
}

func (m *MemoryJournal) CreateRollout(_ context.Context, r store.Rollout) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.rollouts[r.ID]; dup {
		return fmt.Errorf("rollout %s exists", r.ID)
	}
	r.Created, r.Updated = time.Now(), time.Now()
	m.rollouts[r.ID] = r
	return nil
}

func (m *MemoryJournal) Rollout(_ context.Context, id string) (store.Rollout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rollouts[id]
	if !ok {
		return store.Rollout{}, fmt.Errorf("rollout %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

func (m *MemoryJournal) SetRolloutStatus(_ context.Context, id, status, message string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rollouts[id]
	if !ok {
		return fmt.Errorf("rollout %s: %w", id, store.ErrNotFound)
	}
	r.Status, r.Message, r.Updated = status, message, time.Now()
	m.rollouts[id] = r
	return nil
}

func (m *MemoryJournal) AppendRolloutEvent(_ context.Context, e store.RolloutEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.Seq = int64(len(m.events) + 1)
	m.events = append(m.events, e)
	return nil
}

func (m *MemoryJournal) RolloutEvents(_ context.Context, id string, after int64) ([]store.RolloutEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.RolloutEvent
	for _, e := range m.events {
		if e.RolloutID == id && e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *MemoryJournal) RecordDeployed(_ context.Context, d store.Deployment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deployed[d.Repo+"\x00"+d.Cluster] = d
	return nil
}

func (m *MemoryJournal) AcquireLease(_ context.Context, key, holder string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.leases[key]; ok && h != holder {
		return false, nil
	}
	m.leases[key] = holder
	return true, nil
}

func (m *MemoryJournal) ReleaseLease(_ context.Context, key, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leases[key] == holder {
		delete(m.leases, key)
	}
	return nil
}

func (m *MemoryJournal) LeaseHolder(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leases[key], nil
}
