package ironic_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func TestEnroll(t *testing.T) {
	t.Parallel()
	s := startIronic(t)
	a := newRaw(t, s)
	p := ironictest.NewProxy(t, s.URL())
	client, err := ironic.NewClient(context.Background(), config(p.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const password = "ipmi-s3cret"
	specs := []ironic.EnrollSpec{
		{Name: "easy", UUID: newUUID(), Driver: "fake-hardware", MACs: []string{"52:54:00:00:30:01", "52:54:00:00:30:02"},
			DriverInfo: map[string]any{"ipmi_address": "10.0.0.1", "ipmi_password": password}},
		{Name: "fox", UUID: newUUID(), Driver: "fake-hardware", MACs: []string{"52:54:00:00:31:01"}},
	}
	actions := func(rs []ironic.EnrollResult) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name+" "+string(r.Action))
		}
		return out
	}

	var told []ironic.EnrollResult
	results, err := ironic.Enroll(ctx, client, specs, func(r ironic.EnrollResult) { told = append(told, r) })
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if got, want := actions(results), []string{"easy created", "fox created"}; !slices.Equal(got, want) {
		t.Errorf("first Enroll: got %v, want %v", got, want)
	}
	if len(told) != 2 {
		t.Errorf("observer told of %d results, want 2", len(told))
	}
	n := a.node(specs[0].UUID)
	if n.Name != "easy" || n.Driver != "fake-hardware" || n.ProvisionState != "enroll" || n.DriverInfo["ipmi_address"] != "10.0.0.1" {
		t.Errorf("created node: %+v", n)
	}
	if got := a.ports(specs[0].UUID); !slices.Equal(sorted(got), specs[0].MACs) {
		t.Errorf("ports of easy: got %v, want %v", got, specs[0].MACs)
	}
	// What Enroll made, Ironic can work with: fake-hardware's defaults are all fake.
	a.provision(specs[1].UUID, "manage", "manageable")

	t.Run("second run changes nothing", func(t *testing.T) {
		before := writes(p)
		results, err := ironic.Enroll(ctx, client, specs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := actions(results), []string{"easy unchanged", "fox unchanged"}; !slices.Equal(got, want) {
			t.Errorf("second Enroll: got %v, want %v (a password Ironic shows as ****** is not rewritten)", got, want)
		}
		if w := writes(p) - before; w != 0 {
			t.Errorf("second Enroll made %d writes: %v", w, p.Calls())
		}
	})

	t.Run("updated where it differs, extra ports kept", func(t *testing.T) {
		a.do(http.MethodPost, "/v1/ports", map[string]any{"node_uuid": specs[1].UUID, "address": "52:54:00:00:31:99"}, http.StatusCreated, nil)
		changed := slices.Clone(specs)
		changed[0].DriverInfo = map[string]any{"ipmi_address": "10.0.0.2"}
		changed[1].MACs = append(slices.Clone(changed[1].MACs), "52:54:00:00:31:02")
		results, err := ironic.Enroll(ctx, client, changed, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"easy (" + specs[0].UUID + "): updated: driver_info/ipmi_address",
			"fox (" + specs[1].UUID + "): updated: port 52:54:00:00:31:02; kept port(s) not in the inventory: 52:54:00:00:31:99",
		}
		var got []string
		for _, r := range results {
			got = append(got, r.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("Enroll of changed specs:\ngot  %q\nwant %q", got, want)
		}
		if n := a.node(specs[0].UUID); n.DriverInfo["ipmi_address"] != "10.0.0.2" || n.DriverInfo["ipmi_password"] == nil {
			t.Errorf("driver_info after the update: %v (the password must be kept)", n.DriverInfo)
		}
	})

	t.Run("a MAC of another node", func(t *testing.T) {
		thief := ironic.EnrollSpec{Name: "george", UUID: newUUID(), Driver: "fake-hardware", MACs: []string{"52:54:00:00:30:02"}}
		results, err := ironic.Enroll(ctx, client, []ironic.EnrollSpec{thief, specs[1]}, nil)
		if err == nil || !strings.Contains(err.Error(), "MAC 52:54:00:00:30:02 of node george ("+thief.UUID+") is a port of Ironic node easy ("+specs[0].UUID+")") {
			t.Errorf("Enroll of a stolen MAC: got %v, want an error naming both nodes", err)
		}
		if got := actions(results); !slices.Equal(got, []string{"george failed", "fox unchanged"}) {
			t.Errorf("results: got %v, want george failed and the next node still done", got)
		}
		a.do(http.MethodGet, "/v1/nodes/"+thief.UUID, nil, http.StatusNotFound, nil)
	})

	t.Run("a name of another node", func(t *testing.T) {
		twin := ironic.EnrollSpec{Name: "easy", UUID: newUUID(), Driver: "fake-hardware"}
		_, err := ironic.Enroll(ctx, client, []ironic.EnrollSpec{twin}, nil)
		if err == nil || !strings.Contains(err.Error(), "the name easy is taken by Ironic node "+specs[0].UUID) {
			t.Errorf("Enroll of a taken name: got %v", err)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		before := writes(p)
		rec := ironic.NewRecorder(client, nil, nil)
		fresh := ironic.EnrollSpec{Name: "harry", UUID: newUUID(), Driver: "fake-hardware", MACs: []string{"52:54:00:00:32:01"},
			DriverInfo: map[string]any{"ipmi_password": password}}
		results, err := ironic.Enroll(ctx, rec, append(slices.Clone(specs[:1]), fresh), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(results); !slices.Equal(got, []string{"easy updated", "harry created"}) {
			t.Errorf("dry-run Enroll: got %v", got) // easy: its address is 10.0.0.2 now
		}
		if w := writes(p) - before; w != 0 {
			t.Errorf("dry-run Enroll sent %d writes", w)
		}
		out := render(rec.Calls())
		if strings.Contains(out, password) {
			t.Errorf("the dry run shows the IPMI password:\n%s", out)
		}
		for _, want := range []string{
			`POST /v1/nodes {"uuid":"` + fresh.UUID + `","name":"harry","driver":"fake-hardware","driver_info":{"ipmi_password":"******"}}`,
			`POST /v1/ports {"address":"52:54:00:00:32:01","node_uuid":"` + fresh.UUID + `"}`,
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("dry-run calls lack %s:\n%s", want, out)
			}
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestEnrollSpecsExampleFleet maps the project's example fleet: every server, spare ones too.
func TestEnrollSpecsExampleFleet(t *testing.T) {
	repo, findings, err := model.Load(context.Background(), os.DirFS("../.."))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Logf("finding: %s", f)
	}
	specs, err := ironic.EnrollSpecs(repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(repo.Servers) {
		t.Errorf("got %d specs for %d servers", len(specs), len(repo.Servers))
	}
	able := specs[0]
	if able.Name != "able" || able.UUID != "a7af76ad-6583-4209-ba5f-cf1477b6405e" || able.Driver != "ipmi" || len(able.MACs) == 0 {
		t.Errorf("first spec: got %+v, want able with its inventory UUID, driver ipmi and NICs", able)
	}
	if len(able.DriverInfo) != 0 {
		t.Errorf("driver_info from the model: got %v, want none (no BMC address or credentials in the repository)", able.DriverInfo)
	}
	inCluster := map[string]bool{}
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			inCluster[n.Name.V] = true
		}
	}
	spare := 0
	for _, s := range specs {
		if !inCluster[s.Name] {
			spare++
		}
		for _, m := range s.MACs {
			if m != strings.ToLower(m) {
				t.Errorf("%s: MAC %s not lower case", s.Name, m)
			}
		}
	}
	if spare == 0 {
		t.Errorf("no spare server enrolled: the example fleet has servers no cluster uses")
	}
}

func TestEnrollSpecsFromModel(t *testing.T) {
	const inventory = `hardware_profiles:
  p: {vendor: V, model: M, flavor: f}
racks:
  - name: R1
    location: DC1
    size: 42
    devices:
      - server:
          name: able
          serial: S1
          hardware: p
          date_added: "2024-01-01"
          ironic_uuid: 00000000-0000-4000-8000-000000000001
          rack_position: [1]
          ipmi: {mac: "0c:c4:7a:00:01:01"}
          network:
            - {mac_address: "0C:C4:7A:00:00:01"}
            - {mac_address: "0c:c4:7a:00:00:02"}
`
	const clusters = `clusters:
  green:
    masters:
      able:
        provision_id: 1
        lan: {mac: "0c:c4:7a:00:00:01", ip: 10.0.0.11/24, vlan: 10, gateway: 10.0.0.1}
        ironic_id: IRONIC_ID
        flavor: f
        image: base
`
	load := func(t *testing.T, ironicID string) *model.Repo {
		repo, _, err := model.Load(context.Background(), fstest.MapFS{
			"inventory/site.yaml": {Data: []byte(inventory)},
			"clusters/green.yaml": {Data: []byte(strings.Replace(clusters, "IRONIC_ID", ironicID, 1))},
		})
		if err != nil {
			t.Fatal(err)
		}
		return repo
	}

	t.Run("same ids", func(t *testing.T) {
		specs, err := ironic.EnrollSpecs(load(t, "00000000-0000-4000-8000-000000000001"), "fake-hardware")
		if err != nil {
			t.Fatal(err)
		}
		want := ironic.EnrollSpec{Name: "able", UUID: "00000000-0000-4000-8000-000000000001", Driver: "fake-hardware",
			MACs: []string{"0c:c4:7a:00:00:01", "0c:c4:7a:00:00:02"}}
		if len(specs) != 1 || fmt.Sprintf("%+v", specs[0]) != fmt.Sprintf("%+v", want) {
			t.Errorf("specs:\ngot  %+v\nwant [%+v] (NICs lower case, not the BMC)", specs, want)
		}
	})
	t.Run("two ids", func(t *testing.T) {
		_, err := ironic.EnrollSpecs(load(t, "00000000-0000-4000-8000-000000000009"), "fake-hardware")
		if err == nil || !strings.Contains(err.Error(), "ironic_uuid 00000000-0000-4000-8000-000000000001 differs from its cluster node's ironic_id 00000000-0000-4000-8000-000000000009") {
			t.Errorf("EnrollSpecs of a server with two UUIDs: got %v", err)
		}
	})
}
