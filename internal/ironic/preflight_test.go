package ironic_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
)

func TestPreflight(t *testing.T) {
	t.Parallel()
	s := startIronic(t)
	a := newRaw(t, s)
	images := imageServer(t, "/good.qcow2", "/vmlinuz")
	p := ironictest.NewProxy(t, s.URL())
	prov := provisioner(t, config(p.URL()))

	withImage := func(tg ironic.Target, path string) ironic.Target {
		tg.Image.URL = images.URL + path
		return tg
	}
	good := withImage(target("good", a.available("good", "52:54:00:00:10:01"), "img-a", "cfg-1"), "/good.qcow2")
	good.MACs = []string{"52:54:00:00:10:01"}

	t.Run("all good", func(t *testing.T) {
		upper := good
		upper.MACs = []string{"52:54:00:00:10:01"}
		upper.MACs[0] = strings.ToUpper(upper.MACs[0]) // MACs compare without case
		if err := prov.Preflight(context.Background(), []ironic.Target{upper}); err != nil {
			t.Errorf("Preflight of a good node: %v", err)
		}
	})

	t.Run("every problem at once", func(t *testing.T) {
		unknown := withImage(target("unknown", newUUID(), "img-a", "cfg-1"), "/good.qcow2")

		maint := withImage(target("maint", a.available("maint", "52:54:00:00:11:01"), "img-a", "cfg-1"), "/good.qcow2")
		maint.MACs = []string{"52:54:00:00:11:01"}
		a.maintenance(maint.IronicID, "PSU replaced")

		macs := withImage(target("macs", a.available("macs", "52:54:00:00:12:01", "52:54:00:00:12:02"), "img-a", "cfg-1"), "/good.qcow2")
		macs.MACs = []string{"52:54:00:00:12:01", "52:54:00:00:12:03"}

		missing := withImage(target("missing", a.available("missing", "52:54:00:00:13:01"), "img-a", "cfg-1"), "/missing.qcow2")
		missing.MACs = []string{"52:54:00:00:13:01"}
		missing.Image.Kind, missing.Image.KernelURL, missing.Image.RamdiskURL = "partition", images.URL+"/vmlinuz", images.URL+"/initrd"

		busy := withImage(target("busy", a.available("busy", "52:54:00:00:14:01"), "img-a", "cfg-1"), "/good.qcow2")
		busy.MACs = []string{"52:54:00:00:14:01"}
		p.ReportState(busy.IronicID, "deploying", "")

		broken := withImage(target("broken", a.available("broken", "52:54:00:00:15:01"), "img-a", "cfg-1"), "/good.qcow2")
		broken.MACs = []string{"52:54:00:00:15:01"}
		p.ReportState(broken.IronicID, "clean failed", "Erasing the disks failed: timeout")

		// Deploying, but with our pending marker: a deploy of ours to resume, not a problem.
		ours := withImage(target("ours", a.available("ours", "52:54:00:00:16:01"), "img-a", "cfg-1"), "/good.qcow2")
		ours.MACs = []string{"52:54:00:00:16:01"}
		a.do(http.MethodPatch, "/v1/nodes/"+ours.IronicID, []map[string]any{{"op": "add", "path": "/extra/" + ironic.ExtraPending,
			"value": map[string]any{"image_id": "img-a", "config_hash": "cfg-1", "rollout": "r-0", "provision_updated_at": "x"}}}, http.StatusOK, nil)
		p.ReportState(ours.IronicID, "deploying", "")
		defer p.Reset()

		before := writes(p)
		err := prov.Preflight(context.Background(), []ironic.Target{good, unknown, maint, macs, missing, busy, broken, ours})
		var pe *ironic.PreflightError
		if !errors.As(err, &pe) {
			t.Fatalf("Preflight: got %v, want a *PreflightError", err)
		}
		want := []ironic.Problem{
			{Node: "unknown", IronicID: unknown.IronicID, Reason: "unknown to Ironic"},
			{Node: "maint", IronicID: maint.IronicID, Reason: "in maintenance: PSU replaced"},
			{Node: "macs", IronicID: macs.IronicID, Reason: "MACs differ from the inventory: no Ironic port for 52:54:00:00:12:03; Ironic port for 52:54:00:00:12:02 not in the inventory"},
			{Node: "missing", IronicID: missing.IronicID, Reason: "image URL " + images.URL + "/missing.qcow2 answered 404 Not Found"},
			{Node: "missing", IronicID: missing.IronicID, Reason: "image URL " + images.URL + "/initrd answered 404 Not Found"},
			{Node: "busy", IronicID: busy.IronicID, Reason: `provision state "deploying": Ironic is busy with the node, and not with a deploy of this image and config`},
			{Node: "broken", IronicID: broken.IronicID, Reason: `provision state "clean failed": deploys do not start from it; an operator must look at the node (last_error: Erasing the disks failed: timeout)`},
		}
		if got := fmt.Sprintf("%q", pe.Problems); got != fmt.Sprintf("%q", want) {
			t.Errorf("problems:\ngot  %s\nwant %s", strings.Join(lines(pe.Problems), "\n     "), strings.Join(lines(want), "\n     "))
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "preflight: 7 problems:\n  node unknown (") {
			t.Errorf("error message: got %q", msg)
		}
		if w := writes(p) - before; w != 0 {
			t.Errorf("Preflight made %d writes, want none: %v", w, p.Calls())
		}
	})

	t.Run("ironic unreachable: one error", func(t *testing.T) {
		p.Down()
		defer p.Up()
		unknown := withImage(target("unknown", newUUID(), "img-a", "cfg-1"), "/good.qcow2")
		err := prov.Preflight(context.Background(), []ironic.Target{good, unknown})
		var pe *ironic.PreflightError
		if errors.As(err, &pe) || !errors.Is(err, ironic.ErrUnreachable) || !strings.Contains(err.Error(), p.URL()) {
			t.Errorf("Preflight with Ironic down: got %v, want one ErrUnreachable naming %s", err, p.URL())
		}
	})

	t.Run("microversion", func(t *testing.T) {
		cfg := config(s.URL())
		cfg.Microversion = "1.99"
		_, err := ironic.NewClient(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "ironic at "+s.URL()) || !strings.Contains(err.Error(), "[1.1, 1.82]") {
			t.Errorf("NewClient with microversion 1.99: got %v, want it refused, naming the server and its range", err)
		}
		cfg.Microversion = "1.58"
		if _, err := ironic.NewClient(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "want 1.59 or later") {
			t.Errorf("NewClient with microversion 1.58: got %v, want it refused", err)
		}
	})
}

func lines(ps []ironic.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
