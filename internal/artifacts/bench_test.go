package artifacts_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
)

// BenchmarkPublish publishes a 512 MiB disk image: copied (Add: read, hash, write, fsync)
// and moved (Move: rename, then read and hash, fsync). Each iteration is a new id; the
// store is emptied between iterations outside the timer.
func BenchmarkPublish(b *testing.B) {
	const size = 512 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "disk.raw")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	chunk := make([]byte, 4<<20)
	for i := range chunk {
		chunk[i] = byte(r.Uint32())
	}
	for range size / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	disk := artifacts.Artifact{Name: "disk.raw", Kind: artifacts.KindWholeDisk, Format: "raw"}

	for _, mode := range []string{"copy", "move"} {
		b.Run(mode, func(b *testing.B) {
			s, err := artifacts.Open(filepath.Join(dir, "store-"+mode))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			moved := filepath.Join(dir, "to-move.raw")
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				b.StopTimer()
				if mode == "move" {
					copyFile(b, src, moved)
				}
				id := idOf(fmt.Sprint(mode, i))
				i++
				b.StartTimer()

				st, err := s.Begin(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "move" {
					_, err = st.Move(ctx, disk, moved)
				} else {
					_, err = st.Add(ctx, disk, src)
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Commit(ctx, artifacts.Manifest{Name: "bench"}); err != nil {
					b.Fatal(err)
				}

				b.StopTimer()
				if err := os.RemoveAll(filepath.Join(s.Root(), string(id))); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
