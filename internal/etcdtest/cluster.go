package etcdtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/servertest"
)

// Cluster is a real etcd cluster of several members, each a Server of its own that can be
// stopped, wiped and started again.
type Cluster struct {
	// Members are the members in the order of --initial-cluster, named etcd1, etcd2, ….
	Members []*Server
}

// StartCluster starts an etcd cluster of n members for t, all with --initial-cluster-state new,
// and waits until every member is healthy. The members' process groups are killed when t and
// its subtests finish; if t failed, the tail of each member's log is logged first. Like Start,
// it skips t when etcd is not installed, or fails it under CI.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdtest: a cluster of %d members", n)
	}
	servertest.Require(t, "etcdtest", Installed())
	root := t.TempDir()
	c := &Cluster{}
	for i := range n {
		name := fmt.Sprintf("etcd%d", i+1)
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		c.Members = append(c.Members, &Server{dir: dir, name: name})
	}
	t.Cleanup(func() {
		for _, s := range c.Members {
			if t.Failed() {
				t.Log(s.name + ": " + s.LogTail())
			}
			s.kill()
		}
	})

	// A port that was free a moment ago may be taken before etcd binds it; then try others.
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = c.start(); err == nil {
			return c
		}
		inUse := false
		for _, s := range c.Members {
			s.kill()
			inUse = inUse || strings.Contains(s.readLog(), "address already in use")
			_ = os.RemoveAll(s.DataDir())
			_ = os.Remove(s.LogPath())
		}
		if !inUse {
			break
		}
	}
	var tails []string
	for _, s := range c.Members {
		tails = append(tails, s.name+": "+s.LogTail())
	}
	t.Fatalf("etcdtest: %v\n%s", err, strings.Join(tails, "\n"))
	return nil
}

// start picks the members' ports and starts them all at once: none is healthy before a
// majority runs.
func (c *Cluster) start() error {
	ports, err := servertest.FreePorts(2 * len(c.Members))
	if err != nil {
		return err
	}
	var initial []string
	for i, s := range c.Members {
		s.clientAddr = fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		s.peerAddr = fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
		initial = append(initial, s.name+"="+s.PeerURL())
	}
	for _, s := range c.Members {
		s.initialCluster = strings.Join(initial, ",")
	}
	errs := make([]error, len(c.Members))
	var wg sync.WaitGroup
	for i, s := range c.Members {
		wg.Go(func() {
			if err := s.Start(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// URLs are the members' client URLs.
func (c *Cluster) URLs() []string {
	var urls []string
	for _, s := range c.Members {
		urls = append(urls, s.URL())
	}
	return urls
}
