package imagebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// storeOfOwn is a buildah with a store of the test's own, so the test
// neither sees nor touches the machine's images.
func storeOfOwn(t *testing.T) Buildah {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("buildah is not installed; scripts/test.sh installs it")
		}
		t.Skip("buildah is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah with vfs storage needs root here")
	}
	dir := t.TempDir()
	b := Buildah{Root: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run")}
	t.Cleanup(func() { b.output(context.Background(), "rmi", "--all", "--force") })
	return b
}

// commitEmpty makes an empty image tagged tag.
func commitEmpty(t *testing.T, b Buildah, tag string) {
	t.Helper()
	ctx := context.Background()
	ctr, err := b.output(ctx, "from", "--quiet", "scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer b.output(ctx, "rm", ctr)
	if _, err := b.output(ctx, "commit", "--quiet", ctr, tag); err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsWhatTheFleetBuilds(t *testing.T) {
	b := storeOfOwn(t)
	ctx := context.Background()
	for _, tag := range []string{"localhost/cac/base:aaa", "localhost/cac/base:old", "localhost/cac-bootstrap:bbb", "localhost/other:1"} {
		commitEmpty(t, b, tag)
	}
	keep := map[string]bool{"localhost/cac/base:aaa": true, "localhost/cac-bootstrap:bbb": true}
	would, err := b.Prune(ctx, keep, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(would, []string{"localhost/cac/base:old"}) {
		t.Errorf("dry run would remove %v, want only the old build", would)
	}
	if _, err := b.Prune(ctx, keep, false); err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]bool{"localhost/cac/base:aaa": true, "localhost/cac/base:old": false, "localhost/cac-bootstrap:bbb": true} {
		if got, _ := b.Exists(ctx, tag); got != want {
			t.Errorf("%s exists: %v, want %v", tag, got, want)
		}
	}
	if got, _ := b.Exists(ctx, "localhost/other:1"); !got {
		t.Error("an image that is not the bot's was removed")
	}
}
