// Package model loads a fleet repository — inventory, clusters, images and specs — from an
// fs.FS into typed values that remember the file, line and column they came from.
//
// Loading is strict about shape (unknown keys, wrong types and YAML syntax are findings) but
// leaves cross-references (does this node's server exist? is this IP in its subnet?) to the
// validate package. A Repo is immutable once loaded; values may be shared between Repos that
// were loaded by the same Loader from files with identical content.
package model

import (
	"io/fs"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
)

// Pos is a place in a repository file.
type Pos = finding.Pos

// Value is a value read from a file, with the place it was read from. A zero Pos means the
// key was absent.
type Value[T any] struct {
	V   T
	Pos Pos
}

// Set reports whether the value was present in the file.
func (v Value[T]) Set() bool { return v.Pos.Line != 0 }

// Repo is everything loaded from one snapshot of a fleet repository. Slices keep the order of
// files (sorted by path) and of entries within a file.
type Repo struct {
	Profiles     []*HardwareProfile
	Racks        []*Rack
	Servers      []*Server
	Switches     []*Switch
	Variants     []*Variant
	Clusters     []*Cluster
	Images       []*Image
	ImageSpecs   []*ImageSpec
	ClusterSpecs []*ClusterSpec

	// Files lists every file under the four fleet folders with its digest, sorted by path.
	Files []File
	// SecretLines lists, per file, the lines that hold a secret's value (a reference or a
	// literal), so that renderers can mask them.
	SecretLines map[string][]int

	servers  map[string]*Server
	profiles map[string]*HardwareProfile
	variants map[string]*Variant
	images   map[string]*Image
}

// File is one file of the snapshot: its path, mode (0644, 0755 or a symlink) and SHA-256.
type File struct {
	Path   string
	Mode   fs.FileMode
	Digest [32]byte
}

// Server returns the first server of that name, or nil.
func (r *Repo) Server(name string) *Server { return r.servers[name] }

// Profile returns the first hardware profile of that name, or nil.
func (r *Repo) Profile(name string) *HardwareProfile { return r.profiles[name] }

// Variant returns the first image variant of that name, or nil.
func (r *Repo) Variant(name string) *Variant { return r.variants[name] }

// Image returns the image folder of that name, or nil.
func (r *Repo) Image(name string) *Image { return r.images[name] }

// HardwareProfile is a kind of server: vendor, model, sizing and the flavor it satisfies.
type HardwareProfile struct {
	Name     Value[string]
	Vendor   Value[string]
	Model    Value[string]
	CPU      Value[string]
	MemoryGB Value[int]
	Disks    []Value[string]
	Flavor   Value[string]
	Pos      Pos
}

// Rack is a rack at a location with its PDUs and devices.
type Rack struct {
	Name     Value[string]
	Location Value[string]
	Size     Value[int]
	PDUs     []Value[string]
	Servers  []*Server
	Switches []*Switch
	Pos      Pos
}

// Server is one physical machine.
type Server struct {
	Name            Value[string]
	Usage           Value[string]
	AdditionalNames []Value[string]
	Serial          Value[string]
	// Hardware is the name of the hardware profile, at the place the server refers to it.
	Hardware     Value[string]
	DateAdded    Value[string]
	IronicUUID   Value[string]
	RackPosition []Value[int]
	PDUs         []Value[string]
	IPMI         Port
	Network      []NIC
	Rack         *Rack
	Pos          Pos
}

// Port is a MAC address plugged into a switch port.
type Port struct {
	MAC        Value[string]
	Switch     Value[string]
	SwitchPort Value[int]
	Pos        Pos
}

// NIC is a network interface of a server.
type NIC struct {
	Slot Value[string]
	Port
}

// Switch is a network switch mounted in a rack.
type Switch struct {
	Name         Value[string]
	Model        Value[string]
	RackPosition []Value[int]
	PDUs         []Value[string]
	Rack         *Rack
	Pos          Pos
}

// Variant is an image folder built with a set of build arguments. Every image folder is also a
// variant of its own name with its own arguments.
type Variant struct {
	Name      Value[string]
	Image     Value[string]
	BuildArgs []Arg
	Pos       Pos
}

// Arg is a build argument.
type Arg struct {
	Key   Value[string]
	Value Value[string]
}

// Role names a kind of node in a cluster.
type Role string

// The roles a cluster may have, in their default rollout order.
const (
	Masters    Role = "masters"
	DNSServers Role = "dns_servers"
	Agents     Role = "agents"
)

// Roles returns every role in its default rollout order.
func Roles() []Role { return []Role{Masters, DNSServers, Agents} }

// Cluster is a named set of nodes with cluster-wide settings.
type Cluster struct {
	Name     Value[string]
	DNS      DNS
	Etcd     Etcd
	Marathon Marathon
	Rollout  Rollout
	// Nodes lists the nodes of every role, in file order.
	Nodes []*Node
	Pos   Pos
}

// RoleNodes returns the cluster's nodes of one role, in file order.
func (c *Cluster) RoleNodes(role Role) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// DNS is the resolver configuration every node of a cluster gets.
type DNS struct {
	Nameservers []Value[string]
	DataDomain  Value[string]
	Pos         Pos
}

// Etcd is a cluster's etcd settings.
type Etcd struct {
	Token Value[string]
	Pos   Pos
}

// Marathon is a cluster's Marathon credentials.
type Marathon struct {
	Username Value[string]
	Password Secret
	Pos      Pos
}

// Rollout says how a cluster is re-provisioned: roles in order, and how many nodes of each role
// may be down at once.
type Rollout struct {
	Order   []Value[string]
	MaxDown []RoleLimit
	Pos     Pos
}

// RoleLimit is a per-role number.
type RoleLimit struct {
	Role  Value[string]
	Limit Value[int]
}

// Node is a server's place in a cluster.
type Node struct {
	Name        Value[string]
	Role        Role
	ProvisionID Value[int]
	LAN         LAN
	IronicID    Value[string]
	Flavor      Value[string]
	// Image is the variant name the node runs, at the place the node refers to it.
	Image Value[string]
	Pos   Pos
}

// LAN is a node's primary network configuration.
type LAN struct {
	MAC     Value[string]
	IP      Value[string]
	VLAN    Value[int]
	Gateway Value[string]
	Pos     Pos
}

// Secret is a reference to a secret held elsewhere (Vault, a file, the environment). Its value
// is never in the repository; it renders as •••• everywhere.
type Secret struct {
	// Ref is where the secret lives, for example "vault:secret/green/marathon#password".
	Ref Value[string]
	// Literal is set when the file wrote the secret itself instead of a reference: an error
	// that validation reports. The value is not kept; Fingerprint still changes with it.
	Literal     bool
	fingerprint string
	Pos         Pos
}

// Masked is how every secret is shown.
const Masked = "••••"

// String returns the mask, so a secret cannot leak through fmt.
func (s Secret) String() string { return Masked }

// MarshalText returns the mask, so a secret cannot leak through encoding/json.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Masked), nil }

// Fingerprint identifies what the file said (reference or literal) without revealing a
// literal, so that a change to the secret is noticed.
func (s Secret) Fingerprint() string { return s.fingerprint }

// Image is a folder under images/: how to build the image and lay it out on disk.
type Image struct {
	Name      string
	Parent    Value[string]
	Bootstrap *Bootstrap
	BuildArgs []Arg
	Disk      Disk
	// Dockerfile is what the loader read of the image's Dockerfile; nil when there is none.
	Dockerfile *Dockerfile
	// Files are every file of the folder, relative to it, sorted by path.
	Files []File
	// Pos is the image.yaml file; Line is zero when there is none.
	Pos Pos
}

// Bootstrap says how a root image's file system is made from a distribution.
type Bootstrap struct {
	Suite   Value[string]
	Variant Value[string]
	Include []Value[string]
	Pos     Pos
}

// Disk is an image's disk layout.
type Disk struct {
	Size       Size
	Partitions []Partition
	Pos        Pos
}

// Size is a byte count written with a unit ("8GiB").
type Size struct {
	Value[string]
	Bytes int64
}

// Partition is an extra partition on an image's disk.
type Partition struct {
	Label      Value[string]
	Mount      Value[string]
	Size       Size
	Filesystem Value[string]
	Pos        Pos
}

// Dockerfile is what the model needs of a Dockerfile: its FROM and ARG instructions, and the
// package versions its apt-get install steps pin.
type Dockerfile struct {
	Path string
	From []Value[string]
	Args []Value[string]
	Pins []Pin
}

// Pin is a package installed at an exact version (apt-get install name=version).
type Pin struct {
	Package string
	Version string
	// Pos is the line of the RUN instruction that pins it.
	Pos Pos
}

// ImageSpec is what a built image must contain.
type ImageSpec struct {
	Image    Value[string]
	Packages []PackageSpec
	Files    []FileSpec
	Services []ServiceSpec
	Users    []UserSpec
	Commands []CommandSpec
	Pos      Pos
}

// PackageSpec asserts a package is installed, optionally at an exact version.
type PackageSpec struct {
	Name    Value[string]
	Version Value[string]
	Pos     Pos
}

// FileSpec asserts a path exists with a type, mode, owner and content.
type FileSpec struct {
	Path     Value[string]
	Type     Value[string]
	Mode     Value[string]
	Owner    Value[string]
	Group    Value[string]
	Contains Value[string]
	Pos      Pos
}

// ServiceSpec asserts a systemd unit's state.
type ServiceSpec struct {
	Unit  Value[string]
	State Value[string]
	Pos   Pos
}

// UserSpec asserts a user exists, in groups.
type UserSpec struct {
	Name   Value[string]
	Groups []Value[string]
	Pos    Pos
}

// CommandSpec runs a command in the image and asserts its exit status and output.
type CommandSpec struct {
	Run        Value[string]
	ExitStatus Value[int]
	Stdout     Value[string]
	Stderr     Value[string]
	Pos        Pos
}

// ClusterSpec is what a running cluster must answer.
type ClusterSpec struct {
	Cluster Value[string]
	Checks  []Check
	Pos     Pos
}

// Check is one health check against the nodes of a role. Exactly one of the kinds is set.
type Check struct {
	Name      Value[string]
	Role      Value[string]
	Timeout   Value[time.Duration]
	ZooKeeper *ZooKeeperCheck
	Etcd      *EtcdCheck
	HTTP      *HTTPCheck
	TCP       *TCPCheck
	Pos       Pos
}

// DefaultCheckTimeout is a check's timeout when it sets none.
const DefaultCheckTimeout = 30 * time.Second

// ZooKeeperCheck checks a ZooKeeper ensemble: every member serving, the number of leaders, and
// optionally a write then a read.
type ZooKeeperCheck struct {
	Port      Value[int]
	Leaders   Value[int]
	WriteRead Value[bool]
}

// EtcdCheck checks etcd's /health endpoint.
type EtcdCheck struct {
	Port Value[int]
}

// HTTPCheck checks an HTTP endpoint's status and body.
type HTTPCheck struct {
	Port   Value[int]
	Path   Value[string]
	Status Value[int]
	Body   Value[string]
}

// TCPCheck checks that a port accepts connections.
type TCPCheck struct {
	Port Value[int]
}
