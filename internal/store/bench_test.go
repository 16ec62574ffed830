package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// BenchmarkAccept stores deliveries from 64 concurrent callers, as webhook
// requests arrive, on SQLite with synchronous=FULL. The payload is the size
// of a typical pull_request event (about 25 KB).
func BenchmarkAccept(b *testing.B) {
	s, err := store.Open(context.Background(), store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := []byte(`{"action":"synchronize","pad":"` + strings.Repeat("x", 25_000) + `"}`)
	var n atomic.Int64
	b.SetParallelism(32)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("bench-%d", n.Add(1))
			if _, err := s.Accept(context.Background(), store.Delivery{ID: id, Event: "pull_request", Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
