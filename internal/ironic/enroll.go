package ironic

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// EnrollSpec is a node as the fleet repository describes it to Ironic.
type EnrollSpec struct {
	// Name is the server's name in the inventory, the Ironic node's name.
	Name string
	// UUID is the node's Ironic UUID (the inventory's ironic_uuid).
	UUID   string
	Driver string
	// DriverInfo holds the keys of the node's driver_info to set. Keys the node has and the
	// spec does not are left as they are; so are secrets already set (Ironic shows them as
	// ******, so they cannot be compared).
	DriverInfo map[string]any
	// MACs are the node's NICs, one Ironic port each.
	MACs []string
	// Properties holds the keys of the node's properties to set, like DriverInfo.
	Properties map[string]any
}

// EnrollAction is what Enroll did to a node.
type EnrollAction string

// The actions.
const (
	EnrollCreated   EnrollAction = "created"
	EnrollUpdated   EnrollAction = "updated"
	EnrollUnchanged EnrollAction = "unchanged"
	EnrollFailed    EnrollAction = "failed"
)

// EnrollResult is what Enroll did to one node.
type EnrollResult struct {
	Name, UUID string
	Action     EnrollAction
	// Changes lists what was set or created: "name", "driver_info/ipmi_address", "port
	// 0c:c4:7a:ae:d7:84", …; never a value.
	Changes []string
	// Kept lists the node's ports that the spec does not have, left in place.
	Kept []string
	Err  error
}

// String is the result as one line: "able (a7af…): updated: driver, port 0c:…".
func (r EnrollResult) String() string {
	s := fmt.Sprintf("%s (%s): %s", r.Name, r.UUID, r.Action)
	if len(r.Changes) > 0 {
		s += ": " + strings.Join(r.Changes, ", ")
	}
	if len(r.Kept) > 0 {
		s += "; kept port(s) not in the inventory: " + strings.Join(r.Kept, ", ")
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// Enroll makes Ironic know every spec's node: a node missing (by UUID) is created with its
// ports; an existing one is updated where it differs from its spec (name, driver, the spec's
// driver_info and properties keys) and given the ports it lacks; its other ports are kept. A
// MAC that is a port of another node is an error naming both, and so is a name another node
// holds. Running it again changes nothing. obs, when not nil, is told of each node's result as
// it is known.
//
// A node that fails does not stop the others: their errors are joined in the error returned.
// Ironic unreachable, or ctx done, stops everything at once.
func Enroll(ctx context.Context, api API, specs []EnrollSpec, obs func(EnrollResult)) ([]EnrollResult, error) {
	var results []EnrollResult
	var errs []error
	for _, s := range specs {
		res, err := enrollOne(ctx, api, s)
		if err != nil {
			res.Action, res.Err = EnrollFailed, err
		}
		results = append(results, res)
		if obs != nil {
			obs(res)
		}
		if err != nil {
			err = fmt.Errorf("enrolling node %s (%s): %w", s.Name, s.UUID, err)
			if fatal(ctx, err) {
				return results, err
			}
			errs = append(errs, err)
		}
	}
	return results, errors.Join(errs...)
}

func enrollOne(ctx context.Context, api API, s EnrollSpec) (EnrollResult, error) {
	res := EnrollResult{Name: s.Name, UUID: s.UUID}
	if s.UUID == "" || s.Driver == "" {
		return res, fmt.Errorf("%w: want a UUID and a driver", ErrInvalidTarget)
	}
	n, err := api.GetNode(ctx, s.UUID)
	switch {
	case errors.Is(err, ErrNotFound):
		return create(ctx, api, s)
	case err != nil:
		return res, err
	}

	var ops []PatchOp
	if s.Name != "" && n.Name != s.Name {
		if err := nameFree(ctx, api, s); err != nil {
			return res, err
		}
		ops = append(ops, addOp("/name", s.Name))
		res.Changes = append(res.Changes, "name")
	}
	if n.Driver != s.Driver {
		ops = append(ops, addOp("/driver", s.Driver))
		res.Changes = append(res.Changes, "driver")
	}
	for _, f := range []struct {
		field      string
		want, have map[string]any
	}{{"driver_info", s.DriverInfo, n.DriverInfo}, {"properties", s.Properties, n.Properties}} {
		for _, k := range sortedKeys(f.want) {
			have, ok := f.have[k]
			if ok && isSecretKey(k) && have == secretMask {
				continue
			}
			if !ok || !reflect.DeepEqual(normalizeValue(f.want[k]), have) {
				ops = append(ops, addOp("/"+f.field+"/"+k, f.want[k]))
				res.Changes = append(res.Changes, f.field+"/"+k)
			}
		}
	}
	if len(ops) > 0 {
		if _, err := api.PatchNode(ctx, s.UUID, ops); err != nil {
			return res, err
		}
	}

	ports, err := api.ListNodePorts(ctx, s.UUID)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	for _, p := range ports {
		have[strings.ToLower(p.Address)] = true
	}
	want := normalizeMACs(s.MACs)
	for _, m := range want {
		if have[m] {
			continue
		}
		if err := addPort(ctx, api, s, m); err != nil {
			return res, err
		}
		res.Changes = append(res.Changes, "port "+m)
	}
	for _, p := range ports {
		if m := strings.ToLower(p.Address); !slices.Contains(want, m) {
			res.Kept = append(res.Kept, m)
		}
	}
	slices.Sort(res.Kept)
	res.Action = EnrollUnchanged
	if len(res.Changes) > 0 {
		res.Action = EnrollUpdated
	}
	return res, nil
}

// create creates the node and its ports, after checking that neither its name nor its MACs
// belong to another node.
func create(ctx context.Context, api API, s EnrollSpec) (EnrollResult, error) {
	res := EnrollResult{Name: s.Name, UUID: s.UUID}
	if s.Name != "" {
		if err := nameFree(ctx, api, s); err != nil {
			return res, err
		}
	}
	macs := normalizeMACs(s.MACs)
	for _, m := range macs {
		if err := macFree(ctx, api, s, m); err != nil {
			return res, err
		}
	}
	if _, err := api.CreateNode(ctx, NewNode{UUID: s.UUID, Name: s.Name, Driver: s.Driver,
		DriverInfo: s.DriverInfo, Properties: s.Properties}); err != nil {
		return res, err
	}
	res.Action = EnrollCreated
	for _, m := range macs {
		if _, err := api.CreatePort(ctx, s.UUID, m); err != nil {
			return res, fmt.Errorf("node created, port %s: %w", m, err)
		}
		res.Changes = append(res.Changes, "port "+m)
	}
	return res, nil
}

// nameFree checks that no other node has s's name.
func nameFree(ctx context.Context, api API, s EnrollSpec) error {
	other, err := api.GetNode(ctx, s.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.UUID != s.UUID:
		return fmt.Errorf("the name %s is taken by Ironic node %s", s.Name, other.UUID)
	}
	return nil
}

// addPort creates the port of MAC m on s's node, after checking no other node has it.
func addPort(ctx context.Context, api API, s EnrollSpec, m string) error {
	if err := macFree(ctx, api, s, m); err != nil {
		return err
	}
	if _, err := api.CreatePort(ctx, s.UUID, m); err != nil {
		return fmt.Errorf("port %s: %w", m, err)
	}
	return nil
}

// macFree checks that MAC m is not a port of a node other than s's, naming that node if so.
func macFree(ctx context.Context, api API, s EnrollSpec, m string) error {
	ports, err := api.ListPortsByAddress(ctx, m)
	if err != nil {
		return err
	}
	for _, p := range ports {
		if p.NodeUUID == s.UUID {
			continue
		}
		owner := p.NodeUUID
		if o, err := api.GetNode(ctx, p.NodeUUID); err == nil && o.Name != "" {
			owner = fmt.Sprintf("%s (%s)", o.Name, o.UUID)
		}
		return fmt.Errorf("MAC %s of node %s (%s) is a port of Ironic node %s", m, s.Name, s.UUID, owner)
	}
	return nil
}

func normalizeMACs(macs []string) []string {
	var out []string
	for _, m := range macs {
		m = strings.ToLower(strings.TrimSpace(m))
		if m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DefaultDriver is the hardware type EnrollSpecs gives nodes when told none.
const DefaultDriver = "ipmi"

// EnrollSpecs maps the fleet's inventory to Enroll's specs: one per server that has an Ironic
// UUID (the inventory's ironic_uuid, or the ironic_id of the cluster node of the same name —
// a cluster node is the server of its name), in inventory order, whether a cluster uses it or
// not: the inventory is the record of the hardware, a spare server is enrolled (and cleaned,
// made available) like any other. A server with no UUID anywhere is left out. A server whose
// two UUIDs differ, or a cluster node with no server, is an error (validation reports them too).
//
// The ports are the server's NICs (network), not its BMC. driver is the Ironic hardware type,
// DefaultDriver when empty. driver_info is left empty: the inventory records the BMC's MAC
// and switch port, not its address or credentials, and a password has no place in the
// repository anyway. Set ipmi_address, ipmi_username and ipmi_password in Ironic (or on the
// specs, from a secret store, before Enroll): Enroll keeps driver_info keys a spec does not
// name.
func EnrollSpecs(repo *model.Repo, driver string) ([]EnrollSpec, error) {
	if repo == nil {
		return nil, errors.New("enroll specs: no repository")
	}
	if driver == "" {
		driver = DefaultDriver
	}
	var errs []error
	nodeIDs := map[string]string{} // node name → ironic_id
	for _, c := range repo.Clusters {
		for _, n := range c.Nodes {
			if repo.Server(n.Name.V) == nil {
				errs = append(errs, fmt.Errorf("node %s of cluster %s: no server of that name in the inventory", n.Name.V, c.Name.V))
			}
			if n.IronicID.V != "" {
				nodeIDs[n.Name.V] = strings.ToLower(n.IronicID.V)
			}
		}
	}
	var specs []EnrollSpec
	seen := map[string]bool{}
	for _, s := range repo.Servers {
		name := s.Name.V
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		uuid := strings.ToLower(s.IronicUUID.V)
		if id, ok := nodeIDs[name]; ok {
			switch {
			case uuid == "":
				uuid = id
			case id != uuid:
				errs = append(errs, fmt.Errorf("server %s: ironic_uuid %s differs from its cluster node's ironic_id %s", name, uuid, id))
				continue
			}
		}
		if uuid == "" {
			continue
		}
		var macs []string
		for _, nic := range s.Network {
			macs = append(macs, nic.MAC.V)
		}
		specs = append(specs, EnrollSpec{Name: name, UUID: uuid, Driver: driver, MACs: normalizeMACs(macs)})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("enroll specs: %w", errors.Join(errs...))
	}
	return specs, nil
}
