package githubapp

import (
	"container/list"
	"sync"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

// snapshotCache keeps the fleet folders of recent commits, least recently
// used out first, so the next push to a pull request does not download its
// unchanged merge base again. A commit's content never changes, so entries
// never go stale.
type snapshotCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	byKey    map[string]*list.Element
	order    *list.List // front: most recently used
}

type cachedSnapshot struct {
	key   string
	snap  *repofs.Snapshot
	bytes int64
}

// newSnapshotCache holds up to maxBytes of file content.
func newSnapshotCache(maxBytes int64) *snapshotCache {
	return &snapshotCache{maxBytes: maxBytes, byKey: map[string]*list.Element{}, order: list.New()}
}

func (c *snapshotCache) get(key string) (*repofs.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedSnapshot).snap, true
}

func (c *snapshotCache) put(key string, snap *repofs.Snapshot) {
	var size int64
	for _, p := range snap.Paths() {
		if data, err := snap.ReadFile(p); err == nil {
			size += int64(len(data))
		}
	}
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.order.PushFront(&cachedSnapshot{key: key, snap: snap, bytes: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		last := c.order.Back()
		old := last.Value.(*cachedSnapshot)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.bytes -= old.bytes
	}
}
