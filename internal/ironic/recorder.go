package ironic

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Recorder is an API for dry runs: it answers reads and records writes without sending them.
// Reads come from the API it was given (a real Ironic, only read) or, without one, from the
// nodes it was seeded with; either way a node once read is kept, and writes are applied to
// that copy, provision state changes taking effect at once (deploy and rebuild → active,
// manage → manageable, provide → available, deleted → available). So the provisioner walks
// through the same steps, and Calls lists the requests a real run would make, in order. It is
// safe for concurrent use.
type Recorder struct {
	read API // nil: seeded nodes only

	mu      sync.Mutex
	nodes   map[string]*Node // by UUID
	ports   []Port           // seeded and created
	created map[string]bool  // nodes created here: the real API has none of their ports
	calls   []Call
	last    time.Time // the last simulated provision_updated_at
}

// Call is one request a run made or would make. Body never holds a secret: a config drive
// shows as its digest, a password as ******.
type Call struct {
	Method, Path string
	Body         string
}

// String is the call as one line: PUT /v1/nodes/<uuid>/states/provision {"target":…}.
func (c Call) String() string {
	if c.Body == "" {
		return c.Method + " " + c.Path
	}
	return c.Method + " " + c.Path + " " + c.Body
}

// NewRecorder returns a recorder reading through read (nil for none) and knowing nodes and
// ports besides. Seeding a node "active" with extra holding the image id and config hash it
// runs is how a dry run without Ironic starts from the fleet as deployed.
func NewRecorder(read API, nodes []Node, ports []Port) *Recorder {
	r := &Recorder{read: read, nodes: map[string]*Node{}, created: map[string]bool{}}
	for _, n := range nodes {
		c := cloneNode(n)
		r.nodes[n.UUID] = &c
		r.created[n.UUID] = true
	}
	for _, p := range ports {
		p.Address = strings.ToLower(p.Address)
		r.ports = append(r.ports, p)
	}
	return r
}

// Calls returns the calls so far, in order; consecutive identical GETs (polling) are one.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Writes returns the calls that would change something (every method but GET).
func (r *Recorder) Writes() []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, c)
		}
	}
	return out
}

func (r *Recorder) record(method, path, body string) {
	c := Call{Method: method, Path: path, Body: body}
	if method == http.MethodGet && len(r.calls) > 0 && r.calls[len(r.calls)-1] == c {
		return
	}
	r.calls = append(r.calls, c)
}

// APIVersions implements API. Without a read API it claims what this package needs.
func (r *Recorder) APIVersions(ctx context.Context) (Versions, error) {
	r.mu.Lock()
	r.record(http.MethodGet, "/v1", "")
	r.mu.Unlock()
	if r.read != nil {
		return r.read.APIVersions(ctx)
	}
	return Versions{Min: "1.1", Max: DefaultMicroversion}, nil
}

// GetNode implements API.
func (r *Recorder) GetNode(ctx context.Context, ident string) (Node, error) {
	r.mu.Lock()
	r.record(http.MethodGet, "/v1/nodes/"+ident, "")
	r.mu.Unlock()
	return r.node(ctx, ident)
}

// node returns the node's copy, reading it first if need be, without recording a call: it is
// also the node a write applies to, which a real Ironic looks up on its side.
func (r *Recorder) node(ctx context.Context, ident string) (Node, error) {
	r.mu.Lock()
	n := r.find(ident)
	r.mu.Unlock()
	if n != nil {
		return cloneNode(*n), nil
	}
	if r.read == nil {
		return Node{}, notFound(http.MethodGet, "/v1/nodes/"+ident, "Node "+ident+" could not be found.")
	}
	got, err := r.read.GetNode(ctx, ident)
	if err != nil {
		return Node{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.nodes[got.UUID]; n != nil { // read meanwhile
		return cloneNode(*n), nil
	}
	c := cloneNode(got)
	r.nodes[got.UUID] = &c
	return cloneNode(c), nil
}

// find returns the known node of that UUID or name, or nil. r.mu is held.
func (r *Recorder) find(ident string) *Node {
	if n := r.nodes[ident]; n != nil {
		return n
	}
	for _, n := range r.nodes {
		if n.Name != "" && n.Name == ident {
			return n
		}
	}
	return nil
}

// ListNodePorts implements API.
func (r *Recorder) ListNodePorts(ctx context.Context, nodeID string) ([]Port, error) {
	r.mu.Lock()
	r.record(http.MethodGet, "/v1/ports/detail?node_uuid="+nodeID, "")
	local := r.created[nodeID]
	r.mu.Unlock()
	var out []Port
	if r.read != nil && !local {
		ps, err := r.read.ListNodePorts(ctx, nodeID)
		if err != nil {
			return nil, err
		}
		out = ps
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.ports {
		if p.NodeUUID == nodeID {
			out = append(out, p)
		}
	}
	return out, nil
}

// ListPortsByAddress implements API.
func (r *Recorder) ListPortsByAddress(ctx context.Context, mac string) ([]Port, error) {
	r.mu.Lock()
	r.record(http.MethodGet, "/v1/ports/detail?address="+mac, "")
	r.mu.Unlock()
	return r.portsByAddress(ctx, mac)
}

func (r *Recorder) portsByAddress(ctx context.Context, mac string) ([]Port, error) {
	var out []Port
	if r.read != nil {
		ps, err := r.read.ListPortsByAddress(ctx, mac)
		if err != nil {
			return nil, err
		}
		out = ps
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.ports {
		if strings.EqualFold(p.Address, mac) {
			out = append(out, p)
		}
	}
	return out, nil
}

// PatchNode implements API: the patch is recorded and applied to the node's copy.
func (r *Recorder) PatchNode(ctx context.Context, id string, ops []PatchOp) (Node, error) {
	if _, err := r.node(ctx, id); err != nil {
		r.mu.Lock()
		r.record(http.MethodPatch, "/v1/nodes/"+id, patchBody(ops))
		r.mu.Unlock()
		return Node{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	path := "/v1/nodes/" + id
	r.record(http.MethodPatch, path, patchBody(ops))
	n := r.find(id)
	c := cloneNode(*n)
	for _, op := range ops {
		if err := applyPatch(&c, op); err != nil {
			return Node{}, &APIError{Method: http.MethodPatch, Path: path, Status: http.StatusBadRequest,
				Message: fmt.Sprintf("Couldn't apply patch '%s %s'. Reason: %v", op.Op, op.Path, err)}
		}
	}
	*n = c
	return cloneNode(c), nil
}

// transitions are the provision state changes the recorder simulates: target → from → to.
var transitions = map[string]map[string]string{
	"manage":  {stateEnroll: stateManageable, stateAvailable: stateManageable, stateCleanFailed: stateManageable},
	"provide": {stateManageable: stateAvailable},
	"active":  {stateAvailable: stateActive, stateDeployFailed: stateActive},
	"rebuild": {stateActive: stateActive, stateDeployFailed: stateActive},
	"deleted": {stateActive: stateAvailable, stateDeployFailed: stateAvailable, stateError: stateAvailable},
}

// SetProvisionState implements API: the change is recorded and takes effect at once.
func (r *Recorder) SetProvisionState(ctx context.Context, id, target string, configDrive json.RawMessage) error {
	path := "/v1/nodes/" + id + "/states/provision"
	body := struct {
		Target      string `json:"target"`
		ConfigDrive string `json:"configdrive,omitempty"`
	}{Target: target}
	if len(configDrive) > 0 {
		sum := sha256.Sum256(configDrive)
		body.ConfigDrive = "<config drive, sha256 " + hex.EncodeToString(sum[:6]) + "…>"
	}
	_, err := r.node(ctx, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(http.MethodPut, path, marshal(body))
	if err != nil {
		return err
	}
	n := r.find(id)
	to, ok := transitions[target][n.ProvisionState]
	if !ok {
		return &APIError{Method: http.MethodPut, Path: path, Status: http.StatusBadRequest,
			Message: fmt.Sprintf("The requested action %q can not be performed on node %q while it is in state %q.", target, id, n.ProvisionState)}
	}
	n.ProvisionState = to
	n.TargetProvisionState = ""
	n.LastError = ""
	n.ProvisionUpdatedAt = r.tick()
	if target == "deleted" {
		n.InstanceInfo = map[string]any{}
	}
	return nil
}

// tick returns a provision_updated_at later than any given before, in Ironic's format.
func (r *Recorder) tick() string {
	now := time.Now().UTC().Truncate(time.Microsecond)
	if !now.After(r.last) {
		now = r.last.Add(time.Microsecond)
	}
	r.last = now
	return now.Format("2006-01-02T15:04:05.000000+00:00")
}

// CreateNode implements API.
func (r *Recorder) CreateNode(ctx context.Context, nn NewNode) (Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	shown := nn
	shown.DriverInfo = maskSecrets(nn.DriverInfo)
	r.record(http.MethodPost, "/v1/nodes", marshal(shown))
	n := Node{
		UUID: nn.UUID, Name: nn.Name, Driver: nn.Driver, ProvisionState: stateEnroll,
		DriverInfo: normalize(nn.DriverInfo), Properties: normalize(nn.Properties),
		InstanceInfo: map[string]any{}, Extra: map[string]any{},
	}
	if n.UUID == "" {
		n.UUID = newUUID()
	}
	if r.nodes[n.UUID] != nil || (n.Name != "" && r.find(n.Name) != nil) {
		return Node{}, &APIError{Method: http.MethodPost, Path: "/v1/nodes", Status: http.StatusConflict,
			Message: fmt.Sprintf("A node with UUID %s or name %s already exists.", n.UUID, n.Name)}
	}
	r.nodes[n.UUID] = &n
	r.created[n.UUID] = true
	return cloneNode(n), nil
}

// CreatePort implements API.
func (r *Recorder) CreatePort(ctx context.Context, nodeID, mac string) (Port, error) {
	mac = strings.ToLower(mac)
	existing, err := r.portsByAddress(ctx, mac)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(http.MethodPost, "/v1/ports", marshal(map[string]string{"node_uuid": nodeID, "address": mac}))
	if err != nil {
		return Port{}, err
	}
	if len(existing) > 0 {
		return Port{}, &APIError{Method: http.MethodPost, Path: "/v1/ports", Status: http.StatusConflict,
			Message: fmt.Sprintf("A port with MAC address %s already exists.", mac)}
	}
	p := Port{UUID: newUUID(), NodeUUID: nodeID, Address: mac}
	r.ports = append(r.ports, p)
	return p, nil
}

func notFound(method, path, msg string) error {
	return &APIError{Method: method, Path: path, Status: http.StatusNotFound, Message: msg}
}

// applyPatch applies one operation to a node: top-level name, driver, maintenance and
// maintenance_reason, or one key of instance_info, extra, driver_info or properties.
func applyPatch(n *Node, op PatchOp) error {
	parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
	if op.Op != "add" && op.Op != "replace" && op.Op != "remove" {
		return fmt.Errorf("unsupported op %q", op.Op)
	}
	if len(parts) == 1 {
		if op.Op == "remove" {
			return fmt.Errorf("%s: not simulated", op.Path)
		}
		s, isString := op.Value.(string)
		b, isBool := op.Value.(bool)
		switch {
		case parts[0] == "name" && isString:
			n.Name = s
		case parts[0] == "driver" && isString:
			n.Driver = s
		case parts[0] == "maintenance_reason" && isString:
			n.MaintenanceReason = s
		case parts[0] == "maintenance" && isBool:
			n.Maintenance = b
		default:
			return fmt.Errorf("%s: not simulated (or not of the right type)", op.Path)
		}
		return nil
	}
	if len(parts) != 2 {
		return fmt.Errorf("%s: not simulated", op.Path)
	}
	var m *map[string]any
	switch parts[0] {
	case "instance_info":
		m = &n.InstanceInfo
	case "extra":
		m = &n.Extra
	case "driver_info":
		m = &n.DriverInfo
	case "properties":
		m = &n.Properties
	default:
		return fmt.Errorf("%s: not simulated", op.Path)
	}
	if *m == nil {
		*m = map[string]any{}
	}
	key := parts[1]
	if op.Op == "remove" {
		if _, ok := (*m)[key]; !ok {
			return fmt.Errorf("can't remove a non-existent object '%s'", key)
		}
		delete(*m, key)
		return nil
	}
	(*m)[key] = normalizeValue(op.Value)
	return nil
}

// patchBody is a JSON patch as the request body, passwords masked.
func patchBody(ops []PatchOp) string {
	shown := make([]PatchOp, len(ops))
	for i, op := range ops {
		if isSecretKey(op.Path) && op.Op != "remove" {
			op.Value = secretMask
		}
		shown[i] = op
	}
	return marshal(shown)
}

const secretMask = "******"

// isSecretKey reports whether a key (or path) names a secret, as Ironic's own masking does.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

func maskSecrets(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isSecretKey(k) {
			v = secretMask
		}
		out[k] = v
	}
	return out
}

// marshal is JSON without HTML escaping (a config drive shows as <…>, not \u003c…\u003e).
func marshal(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// normalizeValue returns v as JSON decoding gives it back (numbers as float64, structs as
// maps), as a real Ironic would answer it.
func normalizeValue(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(data, &out) != nil {
		return v
	}
	return out
}

func normalize(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out, _ := normalizeValue(m).(map[string]any)
	return out
}

// cloneNode copies a node deeply enough that the copy's maps can be changed.
func cloneNode(n Node) Node {
	n.DriverInfo = cloneMap(n.DriverInfo)
	n.Properties = cloneMap(n.Properties)
	n.InstanceInfo = cloneMap(n.InstanceInfo)
	n.Extra = cloneMap(n.Extra)
	return n
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := maps.Clone(m)
	for k, v := range out {
		if sub, ok := v.(map[string]any); ok {
			out[k] = cloneMap(sub)
		}
	}
	return out
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
