package ironic_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/sergi/go-diff/diffmatchpatch"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		dmp := diffmatchpatch.New()
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, dmp.DiffPrettyText(dmp.DiffMain(string(want), got, false)))
	}
}

func render(calls []ironic.Call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// TestRecorderSeeded: a dry run without Ironic, from nodes seeded as deployed, prints the
// calls of a rebuild.
func TestRecorderSeeded(t *testing.T) {
	t.Parallel()
	const id = "a7af76ad-6583-4209-ba5f-cf1477b6405e"
	seed := []ironic.Node{{
		UUID: id, Name: "able", Driver: "ipmi", ProvisionState: "active",
		ProvisionUpdatedAt: "2024-01-02T03:04:05.000000+00:00",
		InstanceInfo:       map[string]any{"image_source": "http://images.invalid/img-a.qcow2"},
		Extra:              map[string]any{ironic.ExtraImageID: "img-a", ironic.ExtraConfigHash: "cfg-1"},
	}}
	rec := ironic.NewRecorder(nil, seed, []ironic.Port{{UUID: "p1", NodeUUID: id, Address: "0C:C4:7A:AE:D7:84"}})
	prov := ironic.NewProvisioner(rec, config(""))
	tg := target("able", id, "img-b", "cfg-2")
	tg.MACs = []string{"0c:c4:7a:ae:d7:84"}

	res, err := prov.Deploy(context.Background(), tg, nil)
	if err != nil || res.Outcome != ironic.Deployed || !slices.Equal(res.Triggered, []string{"rebuild"}) {
		t.Fatalf("dry-run Deploy: got %+v, %v, want deployed by a rebuild", res, err)
	}
	out := render(rec.Calls())
	if strings.Contains(out, secret) || strings.Contains(out, "cloud-config") {
		t.Errorf("the dry run shows the config drive:\n%s", out)
	}
	golden(t, "recorder_rebuild.golden", out)

	// The recorder's copy is deployed now: the same deploy again is skipped, with no write.
	n := len(rec.Writes())
	if res, err := prov.Deploy(context.Background(), tg, nil); err != nil || res.Outcome != ironic.Skipped {
		t.Errorf("second dry-run Deploy: got %+v, %v, want skipped", res, err)
	}
	if w := rec.Writes()[n:]; len(w) != 0 {
		t.Errorf("second dry-run Deploy wrote %v", w)
	}
	// Maintenance set through the recorder holds for the provisioner too.
	if _, err := rec.PatchNode(context.Background(), id, []ironic.PatchOp{{Op: "add", Path: "/maintenance", Value: true},
		{Op: "add", Path: "/maintenance_reason", Value: "fan"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Deploy(context.Background(), target("able", id, "img-c", "cfg-3"), nil); !errors.Is(err, ironic.ErrMaintenance) {
		t.Errorf("dry-run Deploy of a node put in maintenance: got %v, want ErrMaintenance", err)
	}
	// An unknown node is unknown.
	if _, err := prov.Deploy(context.Background(), target("ghost", newUUID(), "img-b", "cfg-2"), nil); err == nil ||
		!strings.Contains(err.Error(), "could not be found") {
		t.Errorf("dry-run Deploy of an unknown node: got %v, want not found", err)
	}
}

// TestRecorderAgainstIronic: a dry run reading a real Ironic sends no write, and lists the
// requests a real run then makes, in order.
func TestRecorderAgainstIronic(t *testing.T) {
	t.Parallel()
	s := startIronic(t)
	a := newRaw(t, s)
	id := a.available("able", "52:54:00:00:20:01")
	if _, err := provisioner(t, config(s.URL())).Deploy(context.Background(), target("able", id, "img-a", "cfg-1"), nil); err != nil {
		t.Fatal(err)
	}
	before := a.node(id)

	dry := ironictest.NewProxy(t, s.URL())
	client, err := ironic.NewClient(context.Background(), config(dry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	rec := ironic.NewRecorder(client, nil, nil)
	tg := target("able", id, "img-b", "cfg-2")
	res, err := ironic.NewProvisioner(rec, config(dry.URL())).Deploy(context.Background(), tg, nil)
	if err != nil || res.Outcome != ironic.Deployed {
		t.Fatalf("dry-run Deploy: got %+v, %v", res, err)
	}
	if w := writes(dry); w != 0 {
		t.Fatalf("the dry run sent %d writes to Ironic: %v", w, dry.Calls())
	}
	if after := a.node(id); after.Extra[ironic.ExtraImageID] != "img-a" || *after.UpdatedAt != *before.UpdatedAt {
		t.Fatalf("the dry run changed the node: extra %v", after.Extra)
	}
	dryCalls := rec.Calls()
	t.Logf("dry run:\n%s", render(dryCalls))

	live := ironictest.NewProxy(t, s.URL())
	prov := provisioner(t, config(live.URL()))
	if _, err := prov.Deploy(context.Background(), tg, nil); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range live.Calls()[1:] { // after NewClient's GET /v1
		if strings.HasPrefix(c, http.MethodGet+" ") && len(want) > 0 && want[len(want)-1] == c {
			continue // polling
		}
		want = append(want, c)
	}
	var got []string
	for _, c := range dryCalls {
		got = append(got, c.Method+" "+c.Path)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the dry run's calls differ from the real run's:\ndry  %q\nreal %q", got, want)
	}
}
