package ironic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
)

// TestDeploy runs every deploy case against one real Ironic, each on a node of its own and
// through a proxy of its own, in parallel.
func TestDeploy(t *testing.T) {
	t.Parallel()
	s := startIronic(t)
	a := newRaw(t, s)

	// provisionPUTs counts the provision state changes asked of node id through p.
	provisionPUTs := func(p *ironictest.Proxy, id string) int {
		return p.Count(http.MethodPut, "/v1/nodes/"+id+"/states/provision")
	}

	t.Run("from available, then skipped", func(t *testing.T) {
		t.Parallel()
		id := a.available("avail", "52:54:00:00:01:01")
		p := ironictest.NewProxy(t, s.URL())
		cfg := config(p.URL())
		vc := &versionCheck{want: "1.59"}
		cfg.HTTPClient = &http.Client{Transport: vc}
		prov := provisioner(t, cfg)
		tg := target("avail", id, "img-a", "cfg-1")
		var drives, befores atomic.Int32
		build := tg.ConfigDrive
		tg.ConfigDrive = func(ctx context.Context) (json.RawMessage, error) {
			drives.Add(1)
			return build(ctx)
		}
		tg.BeforeTrigger = func(context.Context) error {
			if drives.Load() != 0 {
				t.Error("BeforeTrigger ran after the trigger's config drive was built")
			}
			befores.Add(1)
			return nil
		}
		ev := &events{}
		res, err := prov.Deploy(context.Background(), tg, ev.observe)
		if err != nil {
			t.Fatalf("Deploy: %v", err)
		}
		if res.Outcome != ironic.Deployed || !slices.Equal(res.Triggered, []string{"active"}) || res.State != "active" {
			t.Errorf("Deploy: got %+v, want deployed, triggered [active], active", res)
		}
		wantSteps := []string{"observe/begin", "observe/end", "prepare/begin", "prepare/end", "trigger/begin",
			"trigger/end", "wait/begin", "wait/end", "finalize/begin", "finalize/end"}
		if got := ev.steps(); !slices.Equal(got, wantSteps) {
			t.Errorf("events:\ngot  %v\nwant %v", got, wantSteps)
		}
		if d := drives.Load(); d != 1 {
			t.Errorf("config drive built %d times, want once", d)
		}
		n := a.node(id)
		if n.ProvisionState != "active" {
			t.Errorf("provision state: got %q, want active", n.ProvisionState)
		}
		for k, want := range map[string]any{
			"image_source": tg.Image.URL, "image_os_hash_algo": "sha256",
			"image_os_hash_value": tg.Image.SHA256, "image_disk_format": "qcow2",
		} {
			if n.InstanceInfo[k] != want {
				t.Errorf("instance_info.%s: got %v, want %v", k, n.InstanceInfo[k], want)
			}
		}
		wantExtra := map[string]any{ironic.ExtraImageID: "img-a", ironic.ExtraConfigHash: "cfg-1", ironic.ExtraRollout: "r-1"}
		if fmt.Sprint(n.Extra) != fmt.Sprint(wantExtra) {
			t.Errorf("extra: got %v, want %v (and no %s)", n.Extra, wantExtra, ironic.ExtraPending)
		}
		if got := provisionPUTs(p, id); got != 1 {
			t.Errorf("provision PUTs: got %d, want 1", got)
		}
		if got := p.Count(http.MethodPatch, ".*"); got != 2 {
			t.Errorf("PATCHes: got %d, want 2 (prepare, finalize)", got)
		}

		before := writes(p)
		res, err = prov.Deploy(context.Background(), tg, nil)
		if err != nil || res.Outcome != ironic.Skipped {
			t.Errorf("second Deploy: got %+v, %v, want skipped", res, err)
		}
		if w := writes(p) - before; w != 0 {
			t.Errorf("second Deploy made %d writes, want none: %v", w, p.Calls())
		}
		if d := drives.Load(); d != 1 {
			t.Errorf("config drive built %d times in all, want once: a skipped node needs none", d)
		}
		if b := befores.Load(); b != 1 {
			t.Errorf("BeforeTrigger ran %d times in all, want once: a skipped node is not touched", b)
		}
		if len(vc.bad) > 0 || len(p.Calls()) == 0 {
			t.Errorf("requests without microversion 1.59: %v", vc.bad)
		}
	})

	t.Run("rebuild from active, partition to whole-disk", func(t *testing.T) {
		t.Parallel()
		id := a.available("rebuild", "52:54:00:00:02:01")
		prov := provisioner(t, config(s.URL()))
		part := target("rebuild", id, "img-part", "cfg-1")
		part.Image.Kind, part.Image.Format = "partition", "raw"
		part.Image.KernelURL, part.Image.RamdiskURL, part.Image.RootGB = "http://images.invalid/vmlinuz", "http://images.invalid/initrd", 10
		if _, err := prov.Deploy(context.Background(), part, nil); err != nil {
			t.Fatalf("Deploy of the partition image: %v", err)
		}
		n := a.node(id)
		if n.InstanceInfo["kernel"] != part.Image.KernelURL || n.InstanceInfo["root_gb"] != float64(10) {
			t.Errorf("instance_info after the partition image: got %v, want kernel, ramdisk, root_gb", n.InstanceInfo)
		}
		before := *n.UpdatedAt

		whole := target("rebuild", id, "img-whole", "cfg-2")
		res, err := prov.Deploy(context.Background(), whole, nil)
		if err != nil {
			t.Fatalf("Deploy of the whole-disk image: %v", err)
		}
		if res.Outcome != ironic.Deployed || !slices.Equal(res.Triggered, []string{"rebuild"}) {
			t.Errorf("rebuild: got %+v, want deployed by a rebuild", res)
		}
		n = a.node(id)
		for _, k := range []string{"kernel", "ramdisk", "root_gb"} {
			if _, ok := n.InstanceInfo[k]; ok {
				t.Errorf("instance_info.%s left by the partition image after a whole-disk rebuild", k)
			}
		}
		if n.InstanceInfo["image_source"] != whole.Image.URL || n.Extra[ironic.ExtraImageID] != "img-whole" ||
			n.Extra[ironic.ExtraConfigHash] != "cfg-2" {
			t.Errorf("after the rebuild: instance_info %v, extra %v", n.InstanceInfo, n.Extra)
		}
		if *n.UpdatedAt == before {
			t.Errorf("provision_updated_at did not change with the rebuild")
		}
	})

	t.Run("from enroll: manage, provide, deploy", func(t *testing.T) {
		t.Parallel()
		id := a.enroll("enrolled", "52:54:00:00:03:01")
		prov := provisioner(t, config(s.URL()))
		ev := &events{}
		res, err := prov.Deploy(context.Background(), target("enrolled", id, "img-a", "cfg-1"), ev.observe)
		if err != nil {
			t.Fatalf("Deploy: %v", err)
		}
		if want := []string{"manage", "provide", "active"}; !slices.Equal(res.Triggered, want) || res.Outcome != ironic.Deployed {
			t.Errorf("Deploy: got %+v, want triggered %v", res, want)
		}
		if got := ev.steps(); !slices.Contains(got, "manage/end") || !slices.Contains(got, "provide/end") {
			t.Errorf("events %v lack manage and provide", got)
		}
	})

	t.Run("resume: prepared, never triggered", func(t *testing.T) {
		t.Parallel()
		id := a.available("prepared", "52:54:00:00:04:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		tg := target("prepared", id, "img-a", "cfg-1")
		errKilled := errors.New("killed before the trigger")
		ev := (&events{}).on(ironic.StepTrigger, ironic.Begin, func(ironic.Event) error { return errKilled })
		if _, err := prov.Deploy(context.Background(), tg, ev.observe); !errors.Is(err, errKilled) {
			t.Fatalf("Deploy stopped by the observer: got %v, want it to wrap %v", err, errKilled)
		}
		if got := provisionPUTs(p, id); got != 0 {
			t.Fatalf("provision PUTs after the observer stopped the trigger: got %d, want 0", got)
		}
		if _, ok := a.node(id).Extra[ironic.ExtraPending]; !ok {
			t.Fatalf("no %s after prepare", ironic.ExtraPending)
		}
		patches := p.Count(http.MethodPatch, ".*")

		res, err := prov.Deploy(context.Background(), tg, nil)
		if err != nil || res.Outcome != ironic.Deployed {
			t.Fatalf("Deploy again: got %+v, %v, want deployed", res, err)
		}
		if got := p.Count(http.MethodPatch, ".*") - patches; got != 1 {
			t.Errorf("PATCHes of the second run: got %d, want 1 (finalize; prepared already)", got)
		}
		if got := provisionPUTs(p, id); got != 1 {
			t.Errorf("provision PUTs: got %d, want 1", got)
		}
	})

	t.Run("resume: triggered, in flight", func(t *testing.T) {
		t.Parallel()
		id := a.available("inflight", "52:54:00:00:05:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		tg := target("inflight", id, "img-a", "cfg-1")
		var befores atomic.Int32
		tg.BeforeTrigger = func(context.Context) error { befores.Add(1); return nil }
		ctx, cancel := context.WithCancel(context.Background())
		ev := (&events{}).on(ironic.StepTrigger, ironic.End, func(ironic.Event) error { cancel(); return nil })
		_, err := prov.Deploy(ctx, tg, ev.observe)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Deploy cancelled after the trigger: got %v, want context.Canceled", err)
		}
		if st := a.node(id).ProvisionState; st != "deploying" {
			t.Logf("node in %q when resumed (the fake deploy may have finished)", st)
		}

		res, err := prov.Deploy(context.Background(), tg, nil)
		if err != nil || res.Outcome != ironic.Resumed {
			t.Fatalf("Deploy again: got %+v, %v, want resumed", res, err)
		}
		if got := provisionPUTs(p, id); got != 1 {
			t.Errorf("provision PUTs: got %d, want exactly 1", got)
		}
		if b := befores.Load(); b != 1 {
			t.Errorf("BeforeTrigger ran %d times, want once: a deploy in flight is not triggered again", b)
		}
		n := a.node(id)
		if _, ok := n.Extra[ironic.ExtraPending]; ok || n.Extra[ironic.ExtraImageID] != "img-a" {
			t.Errorf("extra after the resumed deploy: %v", n.Extra)
		}
	})

	t.Run("deploy failed: last_error, then resumed", func(t *testing.T) {
		t.Parallel()
		id := a.available("failed", "52:54:00:00:06:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		tg := target("failed", id, "img-a", "cfg-1")
		const lastError = "Deploy step deploy.deploy failed: disk on fire"
		ev := (&events{}).on(ironic.StepTrigger, ironic.End, func(ironic.Event) error {
			p.ReportState(id, "deploy failed", lastError)
			return nil
		})
		_, err := prov.Deploy(context.Background(), tg, ev.observe)
		var ne *ironic.NodeError
		if !errors.As(err, &ne) || !errors.Is(err, ironic.ErrFailed) {
			t.Fatalf("Deploy of a failing node: got %v, want a NodeError wrapping ErrFailed", err)
		}
		want := fmt.Sprintf(`node failed (%s): step wait: provision state "deploy failed": %s`, id, lastError)
		if err.Error() != want {
			t.Errorf("error:\ngot  %s\nwant %s", err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the config drive's secret")
		}
		if ne.Step != ironic.StepWait || ne.LastError != lastError {
			t.Errorf("NodeError: got %+v", ne)
		}

		// Ironic was only pretending: the real deploy goes on, and a new run takes it over.
		p.ClearState(id)
		res, err := prov.Deploy(context.Background(), tg, nil)
		if err != nil || res.Outcome != ironic.Resumed {
			t.Fatalf("Deploy again: got %+v, %v, want resumed", res, err)
		}
		if got := provisionPUTs(p, id); got != 1 {
			t.Errorf("provision PUTs: got %d, want 1", got)
		}
	})

	t.Run("deploy failed before: triggered again", func(t *testing.T) {
		t.Parallel()
		id := a.available("retried", "52:54:00:00:07:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		tg := target("retried", id, "img-a", "cfg-1")
		ctx, cancel := context.WithCancel(context.Background())
		ev := (&events{}).on(ironic.StepTrigger, ironic.End, func(ironic.Event) error { cancel(); return nil })
		prov.Deploy(ctx, tg, ev.observe)
		a.waitStable(id, "active")
		// The node shows as deploy failed until the new trigger; then as it really is.
		p.ReportState(id, "deploy failed", "the first try failed")
		ev = (&events{}).on(ironic.StepTrigger, ironic.End, func(ironic.Event) error { p.ClearState(id); return nil })
		res, err := prov.Deploy(context.Background(), tg, ev.observe)
		if err != nil || res.Outcome != ironic.Deployed || !slices.Equal(res.Triggered, []string{"rebuild"}) {
			t.Fatalf("Deploy of a node whose deploy failed: got %+v, %v, want deployed by a rebuild", res, err)
		}
		if got := provisionPUTs(p, id); got != 2 {
			t.Errorf("provision PUTs: got %d, want 2", got)
		}
	})

	t.Run("409 locked twice, then accepted", func(t *testing.T) {
		t.Parallel()
		id := a.available("locked", "52:54:00:00:08:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		p.FailNext(http.MethodPut, "/v1/nodes/"+id+"/states/provision", http.StatusConflict, 2)
		ev := &events{}
		res, err := prov.Deploy(context.Background(), target("locked", id, "img-a", "cfg-1"), ev.observe)
		if err != nil || res.Outcome != ironic.Deployed {
			t.Fatalf("Deploy: got %+v, %v, want deployed", res, err)
		}
		if got := provisionPUTs(p, id); got != 3 {
			t.Errorf("provision PUTs: got %d, want 3 (two refused, one accepted)", got)
		}
		if got := strings.Count(strings.Join(ev.steps(), " "), "trigger/begin"); got != 1 {
			t.Errorf("trigger steps: got %d, want 1: retries are inside one step", got)
		}
	})

	t.Run("409 locked for good", func(t *testing.T) {
		t.Parallel()
		id := a.available("stuck", "52:54:00:00:08:02")
		p := ironictest.NewProxy(t, s.URL())
		cfg := config(p.URL())
		cfg.Retries = 2
		prov := provisioner(t, cfg)
		p.FailNext(http.MethodPatch, "/v1/nodes/"+id, http.StatusConflict, 100)
		_, err := prov.Deploy(context.Background(), target("stuck", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrLocked) || !strings.Contains(err.Error(), "step prepare") ||
			!strings.Contains(err.Error(), "is locked by host") {
			t.Errorf("Deploy of a node locked for good: got %v, want ErrLocked at step prepare with Ironic's message", err)
		}
		if got := p.Count(http.MethodPatch, ".*"); got != 3 {
			t.Errorf("PATCHes: got %d, want 3 (one and two retries)", got)
		}
	})

	t.Run("503 retried", func(t *testing.T) {
		t.Parallel()
		id := a.available("unavail", "52:54:00:00:09:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		p.FailNext(http.MethodGet, "/v1/nodes/"+id, http.StatusServiceUnavailable, 2)
		res, err := prov.Deploy(context.Background(), target("unavail", id, "img-a", "cfg-1"), nil)
		if err != nil || res.Outcome != ironic.Deployed {
			t.Fatalf("Deploy: got %+v, %v, want deployed", res, err)
		}
	})

	t.Run("400 not retried", func(t *testing.T) {
		t.Parallel()
		id := a.available("bad", "52:54:00:00:0a:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		p.FailNext(http.MethodPatch, "/v1/nodes/"+id, http.StatusBadRequest, 1)
		_, err := prov.Deploy(context.Background(), target("bad", id, "img-a", "cfg-1"), nil)
		var ae *ironic.APIError
		var ne *ironic.NodeError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !errors.As(err, &ne) || ne.Step != ironic.StepPrepare {
			t.Fatalf("Deploy: got %v, want a 400 APIError at step prepare", err)
		}
		want := fmt.Sprintf("node bad (%s): step prepare: provision state \"available\": PATCH /v1/nodes/%s: 400 Bad Request: Bad Request (injected by ironictest.Proxy)", id, id)
		if err.Error() != want {
			t.Errorf("error:\ngot  %s\nwant %s", err, want)
		}
		if got := p.Count(http.MethodPatch, ".*"); got != 1 {
			t.Errorf("PATCHes: got %d, want 1 (a 400 is not retried)", got)
		}
		if got := provisionPUTs(p, id); got != 0 {
			t.Errorf("provision PUTs after a failed prepare: got %d, want 0", got)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		id := a.available("slow", "52:54:00:00:0b:01")
		p := ironictest.NewProxy(t, s.URL())
		cfg := config(p.URL())
		cfg.Timeout = time.Second
		prov := provisioner(t, cfg)
		ev := (&events{}).on(ironic.StepTrigger, ironic.End, func(ironic.Event) error {
			p.ReportState(id, "deploying", "")
			return nil
		})
		start := time.Now()
		_, err := prov.Deploy(context.Background(), target("slow", id, "img-a", "cfg-1"), ev.observe)
		if !errors.Is(err, ironic.ErrTimeout) {
			t.Fatalf("Deploy of a node that never finishes: got %v, want ErrTimeout", err)
		}
		want := fmt.Sprintf(`node slow (%s): step wait: provision state "deploying": timed out: not "active" after 1s`, id)
		if err.Error() != want {
			t.Errorf("error:\ngot  %s\nwant %s", err, want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Deploy took %v to time out after 1s", d)
		}
	})

	t.Run("observer error stops before the next call", func(t *testing.T) {
		t.Parallel()
		id := a.available("observed", "52:54:00:00:0c:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		errJournal := errors.New("journal full")
		ev := (&events{}).on(ironic.StepPrepare, ironic.Begin, func(ironic.Event) error { return errJournal })
		_, err := prov.Deploy(context.Background(), target("observed", id, "img-a", "cfg-1"), ev.observe)
		if !errors.Is(err, errJournal) || !strings.Contains(err.Error(), "observed") {
			t.Errorf("Deploy: got %v, want the observer's error, naming the node", err)
		}
		if w := writes(p); w != 0 {
			t.Errorf("writes after the observer refused the prepare: %d, want 0: %v", w, p.Calls())
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		t.Parallel()
		id := a.available("maint", "52:54:00:00:0d:01")
		a.maintenance(id, "fan replaced")
		prov := provisioner(t, config(s.URL()))
		_, err := prov.Deploy(context.Background(), target("maint", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrMaintenance) || !strings.Contains(err.Error(), "fan replaced") {
			t.Errorf("Deploy of a node in maintenance: got %v, want ErrMaintenance with the reason", err)
		}
	})

	t.Run("unknown node", func(t *testing.T) {
		t.Parallel()
		prov := provisioner(t, config(s.URL()))
		id := newUUID()
		_, err := prov.Deploy(context.Background(), target("ghost", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrNotFound) || !strings.Contains(err.Error(), "could not be found") {
			t.Errorf("Deploy of an unknown node: got %v, want ErrNotFound with Ironic's message", err)
		}
	})

	t.Run("ironic unreachable", func(t *testing.T) {
		t.Parallel()
		id := a.available("down", "52:54:00:00:0e:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		p.Down()
		_, err := prov.Deploy(context.Background(), target("down", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrUnreachable) || !strings.Contains(err.Error(), p.URL()) {
			t.Errorf("Deploy with Ironic down: got %v, want ErrUnreachable naming %s", err, p.URL())
		}
		p.Up()
		p.FailNext(http.MethodGet, "/v1/nodes/.*", http.StatusBadGateway, 1)
		_, err = prov.Deploy(context.Background(), target("down", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrUnreachable) || !strings.Contains(err.Error(), "502 Bad Gateway") {
			t.Errorf("Deploy behind a gateway that cannot reach Ironic: got %v, want ErrUnreachable saying 502", err)
		}
		p.Hang(http.MethodGet, "/v1/nodes/.*")
		cfg := config(p.URL())
		cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
		_, err = provisioner(t, cfg).Deploy(context.Background(), target("down", id, "img-a", "cfg-1"), nil)
		if !errors.Is(err, ironic.ErrUnreachable) || !strings.Contains(err.Error(), "Timeout") {
			t.Errorf("Deploy with Ironic not answering: got %v, want ErrUnreachable saying the client timed out", err)
		}
	})

	t.Run("undeploy", func(t *testing.T) {
		t.Parallel()
		id := a.available("undeploy", "52:54:00:00:0f:01")
		p := ironictest.NewProxy(t, s.URL())
		prov := provisioner(t, config(p.URL()))
		tg := target("undeploy", id, "img-a", "cfg-1")
		if _, err := prov.Deploy(context.Background(), tg, nil); err != nil {
			t.Fatal(err)
		}
		res, err := prov.Undeploy(context.Background(), tg, nil)
		if err != nil || res.Outcome != ironic.Undeployed || res.State != "available" {
			t.Fatalf("Undeploy: got %+v, %v, want undeployed, available", res, err)
		}
		n := a.node(id)
		if _, ok := n.Extra[ironic.ExtraImageID]; ok || n.ProvisionState != "available" {
			t.Errorf("after Undeploy: state %q, extra %v", n.ProvisionState, n.Extra)
		}
		before := writes(p)
		if res, err := prov.Undeploy(context.Background(), tg, nil); err != nil || res.Outcome != ironic.Skipped {
			t.Errorf("second Undeploy: got %+v, %v, want skipped", res, err)
		}
		if w := writes(p) - before; w != 0 {
			t.Errorf("second Undeploy made %d writes", w)
		}
	})
}
