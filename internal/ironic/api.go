package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// API is the low-level bare metal API the provisioner and Enroll work through: one method per
// Ironic REST call they make. *Client implements it over a real Ironic, *Recorder over a
// dry run. Every method names the node by its Ironic UUID (GetNode also takes a name).
type API interface {
	// APIVersions is GET /v1: the microversions the server supports.
	APIVersions(ctx context.Context) (Versions, error)
	// GetNode is GET /v1/nodes/{ident}, by UUID or name.
	GetNode(ctx context.Context, ident string) (Node, error)
	// ListNodePorts is GET /v1/ports/detail?node_uuid={id}.
	ListNodePorts(ctx context.Context, nodeID string) ([]Port, error)
	// ListPortsByAddress is GET /v1/ports/detail?address={mac}: at most one port, Ironic
	// keeps MACs unique.
	ListPortsByAddress(ctx context.Context, mac string) ([]Port, error)
	// PatchNode is PATCH /v1/nodes/{id} with a JSON patch; it returns the updated node.
	PatchNode(ctx context.Context, id string, ops []PatchOp) (Node, error)
	// SetProvisionState is PUT /v1/nodes/{id}/states/provision: target is "manage",
	// "provide", "active", "rebuild", "deleted", …; configDrive, when not nil, is sent as the
	// configdrive (Ironic's dict form).
	SetProvisionState(ctx context.Context, id, target string, configDrive json.RawMessage) error
	// CreateNode is POST /v1/nodes.
	CreateNode(ctx context.Context, n NewNode) (Node, error)
	// CreatePort is POST /v1/ports.
	CreatePort(ctx context.Context, nodeID, mac string) (Port, error)
}

// Versions is the range of microversions an Ironic supports, "1.1" to "1.82" for example.
type Versions struct {
	Min, Max string
}

// Node is what this package reads of an Ironic node. Nullable strings read as "".
type Node struct {
	UUID                 string `json:"uuid"`
	Name                 string `json:"name"`
	Driver               string `json:"driver"`
	ProvisionState       string `json:"provision_state"`
	TargetProvisionState string `json:"target_provision_state"`
	// ProvisionUpdatedAt changes on every provision state transition; kept as Ironic
	// wrote it (microseconds), since it is only ever compared.
	ProvisionUpdatedAt string         `json:"provision_updated_at"`
	Maintenance        bool           `json:"maintenance"`
	MaintenanceReason  string         `json:"maintenance_reason"`
	LastError          string         `json:"last_error"`
	DriverInfo         map[string]any `json:"driver_info"`
	Properties         map[string]any `json:"properties"`
	InstanceInfo       map[string]any `json:"instance_info"`
	Extra              map[string]any `json:"extra"`
}

// Port is an Ironic port: a NIC's MAC address on a node.
type Port struct {
	UUID     string `json:"uuid"`
	NodeUUID string `json:"node_uuid"`
	Address  string `json:"address"`
}

// NewNode is the body of a node creation.
type NewNode struct {
	UUID       string         `json:"uuid,omitempty"`
	Name       string         `json:"name,omitempty"`
	Driver     string         `json:"driver"`
	DriverInfo map[string]any `json:"driver_info,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// PatchOp is one operation of a JSON patch (RFC 6902) on a node.
type PatchOp struct {
	Op    string `json:"op"` // "add" (which also replaces) or "remove"
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func addOp(path string, v any) PatchOp { return PatchOp{Op: "add", Path: path, Value: v} }
func removeOp(path string) PatchOp     { return PatchOp{Op: "remove", Path: path} }

// Provision states this package acts on (Ironic's names).
const (
	stateEnroll       = "enroll"
	stateVerifying    = "verifying"
	stateManageable   = "manageable"
	stateAvailable    = "available"
	stateActive       = "active"
	stateDeploying    = "deploying"
	stateWaitCallback = "wait call-back"
	stateDeployDone   = "deploy complete"
	stateDeployFailed = "deploy failed"
	stateCleaning     = "cleaning"
	stateCleanWait    = "clean wait"
	stateCleanFailed  = "clean failed"
	stateDeleting     = "deleting"
	stateError        = "error"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotFound: Ironic answered 404 (no such node).
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: no answer from Ironic at all (connection refused, bad gateway, …).
	ErrUnreachable = errors.New("ironic unreachable")
	// ErrLocked: Ironic answered 409 because another operation holds the node's lock (its
	// NodeLocked error); it is retried.
	ErrLocked = errors.New("node locked")
	// ErrFailed: Ironic reports the node in a failure state (deploy failed, clean failed,
	// error); NodeError.LastError says why.
	ErrFailed = errors.New("ironic reports a failure")
	// ErrTimeout: the node did not reach the wanted state within Config.Timeout.
	ErrTimeout = errors.New("timed out")
)

// APIError is an HTTP error answer of Ironic, with its message.
type APIError struct {
	Method string
	// Path is the request's path and query, without scheme and host.
	Path   string
	Status int
	// Message is Ironic's faultstring, or the body as it came when it is not Ironic's JSON.
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) true for a 404, ErrLocked for a NodeLocked 409, and
// ErrUnreachable for a 502 or 504 (a gateway in front of Ironic that cannot reach it).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrLocked:
		return e.Status == http.StatusConflict && strings.Contains(strings.ToLower(e.Message), "locked")
	case ErrUnreachable:
		return e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout
	}
	return false
}

// ironicMessage extracts the faultstring from an Ironic error body:
// {"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"…\", \"debuginfo\": null}"}.
// Anything else comes back trimmed, and cut when long.
func ironicMessage(body []byte) string {
	var outer struct {
		ErrorMessage json.RawMessage `json:"error_message"`
	}
	if err := json.Unmarshal(body, &outer); err == nil && len(outer.ErrorMessage) > 0 {
		var inner struct {
			Faultstring string `json:"faultstring"`
		}
		// error_message is a JSON string holding JSON; older servers put the object itself.
		var s string
		if json.Unmarshal(outer.ErrorMessage, &s) == nil {
			if json.Unmarshal([]byte(s), &inner) == nil && inner.Faultstring != "" {
				return inner.Faultstring
			}
			return s
		}
		if json.Unmarshal(outer.ErrorMessage, &inner) == nil && inner.Faultstring != "" {
			return inner.Faultstring
		}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
