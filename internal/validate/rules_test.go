package validate_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// edit changes one file of the valid fleet.
type edit struct {
	file     string
	old, new string // replace old, which must occur exactly once, with new
	whole    bool   // write new as the whole file, creating it if need be
	remove   bool   // delete the file
}

func replace(file, old, new string) edit { return edit{file: file, old: old, new: new} }
func write(file, content string) edit    { return edit{file: file, new: content, whole: true} }
func remove(file string) edit            { return edit{file: file, remove: true} }

func (e edit) apply(t *testing.T, fsys fstest.MapFS) {
	t.Helper()
	switch {
	case e.remove:
		if fsys[e.file] == nil {
			t.Fatalf("removing %s: the fixture has no such file", e.file)
		}
		delete(fsys, e.file)
	case e.whole:
		fsys[e.file] = &fstest.MapFile{Data: []byte(e.new), Mode: 0o644}
	default:
		f := fsys[e.file]
		if f == nil {
			t.Fatalf("editing %s: the fixture has no such file", e.file)
		}
		if n := strings.Count(string(f.Data), e.old); n != 1 {
			t.Fatalf("editing %s: %q occurs %d times, want exactly once", e.file, e.old, n)
		}
		f.Data = []byte(strings.Replace(string(f.Data), e.old, e.new, 1))
	}
}

// brokenCase is the valid fleet with one mistake, and the finding it must cause.
type brokenCase struct {
	name  string // the rule id, then what this case breaks
	rule  string
	edits []edit
	file  string
	line  int // zero for a finding about a file or folder that is missing
	msg   []string
	// absent are strings no finding's message may contain (a secret's value).
	absent []string
}

// The files of the valid fleet.
const (
	site      = "inventory/site.yaml"
	c1        = "clusters/c1.yaml"
	baseImage = "images/base/image.yaml"
	baseDF    = "images/base/Dockerfile"
	childImg  = "images/child/image.yaml"
	childDF   = "images/child/Dockerfile"
	imageSpec = "specs/images/base.yaml"
	c1Spec    = "specs/clusters/c1.yaml"
)

// secondCluster is a file with a cluster c2 that uses server able, which c1 already uses.
const secondCluster = `clusters:
  c2:
    dns: {nameservers: [10.0.1.1], data_domain: c2.example.org}
    masters:
      able:
        provision_id: 1
        lan: {mac: "0c:c4:7a:00:00:01", ip: 10.0.1.11/24, gateway: 10.0.1.1}
        ironic_id: 00000000-0000-4000-8000-000000000001
        flavor: baremetal-sm-g1
        image: base
`

func brokenCases() []brokenCase {
	return []brokenCase{
		// The loader's rules.
		{
			name:  "yaml-syntax/colon-in-plain-value",
			rule:  model.RuleYAMLSyntax,
			edits: []edit{replace(site, "serial: S0002", "serial: S0002: spare")},
			file:  site, line: 50,
			msg: []string{"mapping values are not allowed"},
		},
		{
			name:  "yaml-syntax/indentation",
			rule:  model.RuleYAMLSyntax,
			edits: []edit{replace(imageSpec, "  - unit: systemd-networkd.service\n    state:", "  - unit: systemd-networkd.service\n     state:")},
			file:  imageSpec, line: 13,
			msg: []string{"mapping values are not allowed"},
		},
		{
			name:  "yaml-syntax/second-document",
			rule:  model.RuleYAMLSyntax,
			edits: []edit{replace(c1Spec, "    timeout: 10s\n", "    timeout: 10s\n---\ncluster: c2\n")},
			file:  c1Spec, line: 16,
			msg: []string{"second YAML document"},
		},
		{
			name:  "unknown-key/typo",
			rule:  model.RuleUnknownKey,
			edits: []edit{replace(site, "serial: S0002", "serail: S0002")},
			file:  site, line: 50,
			msg: []string{`"serail"`, `did you mean "serial"?`},
		},
		{
			name:  "unknown-key/no-suggestion",
			rule:  model.RuleUnknownKey,
			edits: []edit{replace(c1, "    etcd:\n      token: c1\n", "    etcd:\n      token: c1\n      peers: 3\n")},
			file:  c1, line: 14,
			msg: []string{`"peers"`, "it takes token"},
		},
		{
			name:  "duplicate-key/server",
			rule:  model.RuleDuplicateKey,
			edits: []edit{replace(site, `date_added: "2024-01-02"`, "date_added: \"2024-01-02\"\n          serial: S0009")},
			file:  site, line: 53,
			msg: []string{`"serial"`, "server"},
		},
		{
			name:  "duplicate-key/lan",
			rule:  model.RuleDuplicateKey,
			edits: []edit{replace(c1, "ip: 10.0.0.14/24\n", "ip: 10.0.0.14/24\n          ip: 10.0.0.15/24\n")},
			file:  c1, line: 60,
			msg: []string{`"ip"`, "lan"},
		},
		{
			name:  "missing-field/server",
			rule:  model.RuleMissingField,
			edits: []edit{replace(site, "          date_added: \"2024-01-02\"\n", "")},
			file:  site, line: 48, // the server's first key
			msg: []string{"server baker", `"date_added"`},
		},
		{
			name:  "missing-field/node",
			rule:  model.RuleMissingField,
			edits: []edit{replace(c1, "        flavor: baremetal-sm-g1\n        image: base\n", "        image: base\n")},
			file:  c1, line: 56,
			msg: []string{"node dog", `"flavor"`},
		},
		{
			name:  "missing-field/image-disk",
			rule:  model.RuleMissingField,
			edits: []edit{replace(childImg, "disk:\n  size: 8GiB\n", "")},
			file:  childImg, line: 1,
			msg: []string{"image child", "no disk"},
		},
		{
			name:  "missing-field/image-yaml",
			rule:  model.RuleMissingField,
			edits: []edit{remove(childImg)},
			file:  "images/child", line: 0,
			msg: []string{"image child", "no image.yaml"},
		},
		{
			name:  "bad-value/integer",
			rule:  model.RuleBadValue,
			edits: []edit{replace(site, "memory_gb: 256", "memory_gb: lots")},
			file:  site, line: 7,
			msg: []string{"memory_gb", `"lots"`},
		},
		{
			name:  "bad-value/date",
			rule:  model.RuleBadValue,
			edits: []edit{replace(site, `date_added: "2024-01-02"`, `date_added: "2024-02-30"`)},
			file:  site, line: 52,
			msg: []string{"2024-02-30", "baker"},
		},
		{
			name:  "bad-value/uuid",
			rule:  model.RuleBadValue,
			edits: []edit{replace(site, "ironic_uuid: 00000000-0000-4000-8000-000000000005", "ironic_uuid: 00000000-0000-4000-8000-00000000000E")},
			file:  site, line: 107,
			msg: []string{"00000000-0000-4000-8000-00000000000E", "easy"},
		},
		{
			name:  "bad-value/mac",
			rule:  model.RuleBadValue,
			edits: []edit{replace(site, "mac: 0c:c4:7a:00:01:05", "mac: 0c:c4:7a:00:01")},
			file:  site, line: 111,
			msg: []string{"0c:c4:7a:00:01", "server easy ipmi"},
		},
		{
			name:  "bad-value/rack-size",
			rule:  model.RuleBadValue,
			edits: []edit{replace(site, "size: 42", "size: 61")},
			file:  site, line: 14,
			msg: []string{"61"},
		},
		{
			name:  "bad-value/provision-id",
			rule:  model.RuleBadValue,
			edits: []edit{replace(c1, "provision_id: 4", "provision_id: 256")},
			file:  c1, line: 56,
			msg: []string{"256", "dog"},
		},
		{
			name:  "bad-value/nameserver",
			rule:  model.RuleBadValue,
			edits: []edit{replace(c1, "nameservers: [10.0.0.1]", "nameservers: [10.0.0.x]")},
			file:  c1, line: 10,
			msg: []string{"10.0.0.x"},
		},
		{
			name:  "bad-value/size",
			rule:  model.RuleBadValue,
			edits: []edit{replace(baseImage, "size: 8GiB", "size: 8GB")},
			file:  baseImage, line: 8,
			msg: []string{`"8GB"`},
		},
		{
			name:  "bad-value/filesystem",
			rule:  model.RuleBadValue,
			edits: []edit{replace(baseImage, "filesystem: xfs", "filesystem: btrfs")},
			file:  baseImage, line: 13,
			msg: []string{"btrfs"},
		},
		{
			name:  "bad-value/bootstrap-variant",
			rule:  model.RuleBadValue,
			edits: []edit{replace(baseImage, "variant: minbase", "variant: tiny")},
			file:  baseImage, line: 3,
			msg: []string{`"tiny"`},
		},
		{
			name:  "bad-value/service-state",
			rule:  model.RuleBadValue,
			edits: []edit{replace(imageSpec, "state: enabled", "state: running")},
			file:  imageSpec, line: 13,
			msg: []string{`"running"`},
		},
		{
			name:  "bad-value/two-check-kinds",
			rule:  model.RuleBadValue,
			edits: []edit{replace(c1Spec, "    etcd: {port: 2379}\n", "    etcd: {port: 2379}\n    tcp: {port: 2379}\n")},
			file:  c1Spec, line: 6,
			msg: []string{"etcd-healthy", "exactly one"},
		},
		{
			name:  "bad-value/timeout",
			rule:  model.RuleBadValue,
			edits: []edit{replace(c1Spec, "timeout: 10s", "timeout: soon")},
			file:  c1Spec, line: 15,
			msg: []string{`"soon"`},
		},

		// Inventory.
		{
			name:  "duplicate-server/name",
			rule:  "duplicate-server",
			edits: []edit{replace(site, "name: baker", "name: able")},
			file:  site, line: 48,
			msg: []string{`"able"`, site + ":30"},
		},
		{
			name:  "duplicate-serial/serial",
			rule:  "duplicate-serial",
			edits: []edit{replace(site, "serial: S0002", "serial: S0001")},
			file:  site, line: 50,
			msg: []string{"baker", `"S0001"`, site + ":32"},
		},
		{
			name:  "duplicate-mac/nic",
			rule:  "duplicate-mac",
			edits: []edit{replace(site, "mac_address: 0c:c4:7a:00:00:02", "mac_address: 0c:c4:7a:00:00:01")},
			file:  site, line: 62,
			msg: []string{"server baker nic sfp/1", "0c:c4:7a:00:00:01", "server able nic sfp/1"},
		},
		{
			name:  "duplicate-mac/ipmi-and-nic",
			rule:  "duplicate-mac",
			edits: []edit{replace(site, "mac: 0c:c4:7a:00:01:02", "mac: 0C:C4:7A:00:00:01")},
			file:  site, line: 57,
			msg: []string{"server baker ipmi", "0c:c4:7a:00:00:01", "server able nic sfp/1"},
		},
		{
			name:  "duplicate-ip/node",
			rule:  "duplicate-ip",
			edits: []edit{replace(c1, "ip: 10.0.0.12/24", "ip: 10.0.0.11/24")},
			file:  c1, line: 38,
			msg: []string{"baker", "10.0.0.11", c1 + ":28"},
		},
		{
			name:  "duplicate-ironic-id/server",
			rule:  "duplicate-ironic-id",
			edits: []edit{replace(site, "ironic_uuid: 00000000-0000-4000-8000-000000000002", "ironic_uuid: 00000000-0000-4000-8000-000000000001")},
			file:  site, line: 53,
			msg: []string{"server baker", "00000000-0000-4000-8000-000000000001"},
		},
		{
			name:  "duplicate-ironic-id/node",
			rule:  "duplicate-ironic-id",
			edits: []edit{replace(c1, "ironic_id: 00000000-0000-4000-8000-000000000002", "ironic_id: 00000000-0000-4000-8000-000000000001")},
			file:  c1, line: 41,
			msg: []string{"node baker", "00000000-0000-4000-8000-000000000001"},
		},
		{
			name:  "duplicate-switch-port/nic",
			rule:  "duplicate-switch-port",
			edits: []edit{replace(site, "switch: r1-tor\n              switch_port: 2", "switch: r1-tor\n              switch_port: 1")},
			file:  site, line: 64,
			msg: []string{"server baker nic sfp/1", "r1-tor port 1"},
		},
		{
			name:  "duplicate-rack/other-file",
			rule:  "duplicate-rack",
			edits: []edit{write("inventory/site2.yaml", "racks:\n  - name: R1\n    location: DC2\n    size: 42\n")},
			file:  "inventory/site2.yaml", line: 2,
			msg: []string{`"R1"`, site + ":12"},
		},
		{
			name:  "duplicate-switch/name",
			rule:  "duplicate-switch",
			edits: []edit{replace(site, "name: r1-ipmi", "name: r1-tor")},
			file:  site, line: 25,
			msg: []string{`"r1-tor"`, site + ":20"},
		},
		{
			name:  "conflicting-definition/hardware-profile",
			rule:  "conflicting-definition",
			edits: []edit{write("inventory/site2.yaml", "hardware_profiles:\n  sm-g1:\n    vendor: Supermicro\n    model: SYS-1029U-TR4\n    flavor: baremetal-sm-g1\n")},
			file:  "inventory/site2.yaml", line: 2,
			msg: []string{`hardware profile "sm-g1"`, site + ":3"},
		},
		{
			name:  "conflicting-definition/image-variant",
			rule:  "conflicting-definition",
			edits: []edit{write("clusters/c2.yaml", "images:\n  child-c1:\n    image: child\n    build_args:\n      GREETING: hello from c2\n")},
			file:  "clusters/c2.yaml", line: 2,
			msg: []string{`image variant "child-c1"`, c1 + ":2"},
		},
		{
			name:  "rack-unit-range/switch",
			rule:  "rack-unit-range",
			edits: []edit{replace(site, "rack_position: [42]", "rack_position: [43]")},
			file:  site, line: 22,
			msg: []string{"switch r1-tor", "unit 43", "R1"},
		},
		{
			name:  "rack-unit-overlap/server",
			rule:  "rack-unit-overlap",
			edits: []edit{replace(site, "rack_position: [3, 4]", "rack_position: [2, 3]")},
			file:  site, line: 54,
			msg: []string{"server baker", "unit 2", "server able"},
		},
		{
			name:  "pdu-not-in-rack/server",
			rule:  "pdu-not-in-rack",
			edits: []edit{replace(site, "rack_position: [3, 4]\n          pdus: [R1/PDU-A, R1/PDU-B]", "rack_position: [3, 4]\n          pdus: [R1/PDU-A, R2/PDU-A]")},
			file:  site, line: 55,
			msg: []string{"server baker", `"R2/PDU-A"`},
		},
		{
			name:  "pdu-not-in-rack/switch",
			rule:  "pdu-not-in-rack",
			edits: []edit{replace(site, "pdus: [R1/PDU-B]", "pdus: [R1/PDU-C]")},
			file:  site, line: 28,
			msg: []string{"switch r1-ipmi", `"R1/PDU-C"`},
		},
		{
			name:  "unknown-hardware-profile/name",
			rule:  "unknown-hardware-profile",
			edits: []edit{replace(site, "serial: S0002\n          hardware: *sm-g1", "serial: S0002\n          hardware: sm-g2")},
			file:  site, line: 51,
			msg: []string{"baker", `"sm-g2"`},
		},
		{
			name:  "unknown-switch/nic",
			rule:  "unknown-switch",
			edits: []edit{replace(site, "switch: r1-tor\n              switch_port: 2", "switch: r1-tor2\n              switch_port: 2")},
			file:  site, line: 63,
			msg: []string{"server baker nic sfp/1", `"r1-tor2"`},
		},

		// Clusters.
		{
			name:  "duplicate-provision-id/node",
			rule:  "duplicate-provision-id",
			edits: []edit{replace(c1, "provision_id: 2", "provision_id: 1")},
			file:  c1, line: 35,
			msg: []string{"node baker", "provision_id 1", c1 + ":25"},
		},
		{
			name:  "duplicate-cluster/other-file",
			rule:  "duplicate-cluster",
			edits: []edit{write("clusters/c2.yaml", "clusters:\n  c1:\n    dns: {nameservers: [10.0.1.1], data_domain: c1.example.org}\n")},
			file:  "clusters/c2.yaml", line: 2,
			msg: []string{`"c1"`, c1 + ":8"},
		},
		{
			name:  "node-not-in-inventory/typo",
			rule:  "node-not-in-inventory",
			edits: []edit{replace(c1, "      charlie:\n", "      charly:\n")},
			file:  c1, line: 44,
			msg: []string{"charly", `did you mean "charlie"?`},
		},
		{
			name:  "node-mac-mismatch/ipmi-mac",
			rule:  "node-mac-mismatch",
			edits: []edit{replace(c1, "mac: 0c:c4:7a:00:00:01", "mac: 0c:c4:7a:00:01:01")},
			file:  c1, line: 27,
			msg: []string{"0c:c4:7a:00:01:01", "node able", "0c:c4:7a:00:00:01"},
		},
		{
			name:  "node-ironic-id-mismatch/other-server",
			rule:  "node-ironic-id-mismatch",
			edits: []edit{replace(c1, "ironic_id: 00000000-0000-4000-8000-000000000001", "ironic_id: 00000000-0000-4000-8000-000000000005")},
			file:  c1, line: 31,
			msg: []string{"node able", "00000000-0000-4000-8000-000000000005", "00000000-0000-4000-8000-000000000001"},
		},
		{
			name:  "node-in-two-clusters/two-clusters",
			rule:  "node-in-two-clusters",
			edits: []edit{write("clusters/c2.yaml", secondCluster)},
			file:  "clusters/c2.yaml", line: 5,
			msg: []string{"server able", "cluster c1", c1 + ":24"},
		},
		{
			name:  "node-in-two-clusters/two-roles",
			rule:  "node-in-two-clusters",
			edits: []edit{replace(c1, "    agents:\n      dog:\n", "    agents:\n      able:\n")},
			file:  c1, line: 55,
			msg: []string{"server able", "this cluster already"},
		},
		{
			name:  "unknown-image/node",
			rule:  "unknown-image",
			edits: []edit{replace(c1, "image: base", "image: bsae")},
			file:  c1, line: 64,
			msg: []string{"node dog", `"bsae"`},
		},
		{
			name:  "unknown-image/variant",
			rule:  "unknown-image",
			edits: []edit{replace(c1, "image: child\n", "image: chld\n")},
			file:  c1, line: 3,
			msg: []string{"variant child-c1", `"chld"`},
		},
		{
			name:  "unknown-image/parent",
			rule:  "unknown-image",
			edits: []edit{replace(childImg, "parent: base", "parent: bsae")},
			file:  childImg, line: 1,
			msg: []string{"image child", `"bsae"`},
		},
		{
			name:  "unknown-image/spec",
			rule:  "unknown-image",
			edits: []edit{replace(imageSpec, "image: base", "image: bsae")},
			file:  imageSpec, line: 1,
			msg: []string{`"bsae"`},
		},
		{
			name:  "unknown-flavor/node",
			rule:  "unknown-flavor",
			edits: []edit{replace(c1, "flavor: baremetal-sm-g1\n        image: base", "flavor: baremetal-xl\n        image: base")},
			file:  c1, line: 63,
			msg: []string{"node dog", `"baremetal-xl"`},
		},
		{
			name: "flavor-mismatch/other-profile",
			rule: "flavor-mismatch",
			edits: []edit{
				replace(site, "    flavor: baremetal-sm-g1\n", "    flavor: baremetal-sm-g1\n  sm-g2:\n    vendor: Supermicro\n    model: SYS-1029U-TR4\n    flavor: baremetal-sm-g2\n"),
				replace(c1, "flavor: baremetal-sm-g1\n        image: base", "flavor: baremetal-sm-g2\n        image: base"),
			},
			file: c1, line: 63,
			msg: []string{"node dog", `"baremetal-sm-g2"`, "sm-g1", `"baremetal-sm-g1"`},
		},
		{
			name:  "ip-outside-subnet/broadcast",
			rule:  "ip-outside-subnet",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24", "ip: 10.0.0.255/24")},
			file:  c1, line: 59,
			msg: []string{"10.0.0.255", "dog", "10.0.0.0/24"},
		},
		{
			name:  "ip-outside-subnet/network",
			rule:  "ip-outside-subnet",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24", "ip: 10.0.0.0/24")},
			file:  c1, line: 59,
			msg: []string{"10.0.0.0", "dog"},
		},
		{
			name:  "ip-outside-subnet/gateway-address",
			rule:  "ip-outside-subnet",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24", "ip: 10.0.0.1/24")},
			file:  c1, line: 59,
			msg: []string{"node dog", "gateway", "10.0.0.1"},
		},
		{
			name:  "gateway-outside-subnet/other-subnet",
			rule:  "gateway-outside-subnet",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24\n          vlan: 10\n          gateway: 10.0.0.1", "ip: 10.0.0.14/24\n          vlan: 10\n          gateway: 10.0.1.1")},
			file:  c1, line: 61,
			msg: []string{"10.0.1.1", "dog", "10.0.0.0/24"},
		},
		{
			name:  "vlan-range/too-high",
			rule:  "vlan-range",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24\n          vlan: 10", "ip: 10.0.0.14/24\n          vlan: 4095")},
			file:  c1, line: 60,
			msg: []string{"node dog", "VLAN 4095"},
		},
		{
			name:  "vlan-range/zero",
			rule:  "vlan-range",
			edits: []edit{replace(c1, "ip: 10.0.0.14/24\n          vlan: 10", "ip: 10.0.0.14/24\n          vlan: 0")},
			file:  c1, line: 60,
			msg: []string{"node dog", "VLAN 0"},
		},
		{
			name: "master-quorum/even",
			rule: "master-quorum",
			// charlie becomes an agent: two masters.
			edits: []edit{
				replace(c1, "    agents:\n      dog:", "      dog:"),
				replace(c1, "      charlie:\n", "    agents:\n      charlie:\n"),
			},
			file: c1, line: 8,
			msg: []string{"cluster c1", "2 masters"},
		},
		{
			name: "master-quorum/zero",
			rule: "master-quorum",
			// every node becomes an agent.
			edits: []edit{
				replace(c1, "    agents:\n      dog:", "      dog:"),
				replace(c1, "    masters:\n", "    agents:\n"),
			},
			file: c1, line: 8,
			msg: []string{"cluster c1", "0 masters"},
		},
		{
			name:  "secret-literal/marathon-password",
			rule:  "secret-literal",
			edits: []edit{replace(c1, "      password:\n        secret: vault:secret/c1/marathon#password\n", "      password: hunter2-is-secret\n")},
			file:  c1, line: 16,
			msg:    []string{"marathon password", "cluster c1"},
			absent: []string{"hunter2"},
		},
		{
			name:  "rollout-role/order-unknown",
			rule:  "rollout-role",
			edits: []edit{replace(c1, "order: [masters, agents]", "order: [masters, agnets]")},
			file:  c1, line: 19,
			msg: []string{"rollout order", `"agnets"`},
		},
		{
			name:  "rollout-role/order-twice",
			rule:  "rollout-role",
			edits: []edit{replace(c1, "order: [masters, agents]", "order: [masters, agents, masters]")},
			file:  c1, line: 19,
			msg: []string{"masters twice"},
		},
		{
			name:  "rollout-role/order-leaves-out",
			rule:  "rollout-role",
			edits: []edit{replace(c1, "order: [masters, agents]", "order: [masters]")},
			file:  c1, line: 19, // the rollout mapping, which starts at order:
			msg: []string{"leaves out agents"},
		},
		{
			name:  "rollout-role/max-down-unknown",
			rule:  "rollout-role",
			edits: []edit{replace(c1, "        agents: 1\n", "        agnets: 1\n")},
			file:  c1, line: 22,
			msg: []string{"max_down", `"agnets"`},
		},
		{
			name:  "rollout-max-down/quorum",
			rule:  "rollout-max-down",
			edits: []edit{replace(c1, "        masters: 1\n", "        masters: 2\n")},
			file:  c1, line: 21,
			msg: []string{"max_down 2 for masters", "quorum"},
		},
		{
			name:  "rollout-max-down/zero",
			rule:  "rollout-max-down",
			edits: []edit{replace(c1, "        agents: 1\n", "        agents: 0\n")},
			file:  c1, line: 22,
			msg: []string{"agents", "at least 1"},
		},

		// Images.
		{
			name:  "image-parent/none",
			rule:  "image-parent",
			edits: []edit{replace(baseImage, "bootstrap:\n  suite: bookworm\n  variant: minbase\n  include: [systemd, systemd-sysv, linux-image-amd64]\n", "")},
			file:  baseImage, line: 1,
			msg: []string{"image base", "neither"},
		},
		{
			name:  "image-parent/both",
			rule:  "image-parent",
			edits: []edit{replace(childImg, "parent: base\n", "parent: base\nbootstrap:\n  suite: bookworm\n")},
			file:  childImg, line: 3, // the bootstrap mapping, which starts at suite:
			msg: []string{"image child", "both"},
		},
		{
			name:  "image-parent/cycle",
			rule:  "image-parent",
			edits: []edit{replace(baseImage, "bootstrap:\n  suite: bookworm\n  variant: minbase\n  include: [systemd, systemd-sysv, linux-image-amd64]\n", "parent: child\n")},
			file:  childImg, line: 1,
			msg: []string{"image child", "own ancestor"},
		},
		{
			name:  "image-dockerfile/missing",
			rule:  "image-dockerfile",
			edits: []edit{remove(childDF)},
			file:  "images/child", line: 0,
			msg: []string{"image child", "no Dockerfile"},
		},
		{
			name:  "image-dockerfile/no-from",
			rule:  "image-dockerfile",
			edits: []edit{write(childDF, "ARG GREETING\nRUN true\n")},
			file:  childDF, line: 1,
			msg: []string{"image child", "no FROM"},
		},
		{
			name:  "image-dockerfile/fixed-base",
			rule:  "image-dockerfile",
			edits: []edit{replace(baseDF, "FROM ${PARENT_IMAGE}", "FROM debian:bookworm")},
			file:  baseDF, line: 2,
			msg: []string{"image base", "FROM debian:bookworm"},
		},
		{
			name:  "build-arg-undeclared/variant",
			rule:  "build-arg-undeclared",
			edits: []edit{replace(c1, "      GREETING: hello from c1\n", "      GREETING: hello from c1\n      COLOUR: green\n")},
			file:  c1, line: 6,
			msg: []string{"COLOUR", "image child", "ARG COLOUR"},
		},
		{
			name:  "build-arg-undeclared/image",
			rule:  "build-arg-undeclared",
			edits: []edit{replace(childImg, "  GREETING: hello\n", "  GREETING: hello\n  COLOUR: blue\n")},
			file:  childImg, line: 4,
			msg: []string{"COLOUR", "image child"},
		},
		{
			name:  "duplicate-mount/mount",
			rule:  "duplicate-mount",
			edits: []edit{replace(baseImage, "      filesystem: xfs\n", "      filesystem: xfs\n    - label: logs\n      mount: /data\n      size: 1GiB\n      filesystem: ext4\n")},
			file:  baseImage, line: 15,
			msg: []string{"image base", "/data", baseImage + ":11"},
		},
		{
			name:  "duplicate-mount/label",
			rule:  "duplicate-mount",
			edits: []edit{replace(baseImage, "      filesystem: xfs\n", "      filesystem: xfs\n    - label: data\n      mount: /srv\n      size: 1GiB\n      filesystem: ext4\n")},
			file:  baseImage, line: 14,
			msg: []string{"image base", "labelled data", baseImage + ":10"},
		},

		// Specs.
		{
			name:  "unknown-cluster/spec",
			rule:  "unknown-cluster",
			edits: []edit{replace(c1Spec, "cluster: c1", "cluster: c9")},
			file:  c1Spec, line: 1,
			msg: []string{`"c9"`},
		},
		{
			name:  "duplicate-check/name",
			rule:  "duplicate-check",
			edits: []edit{replace(c1Spec, "name: etcd-healthy", "name: zookeeper-one-leader")},
			file:  c1Spec, line: 6,
			msg: []string{`"zookeeper-one-leader"`, c1Spec + ":3"},
		},
		{
			name:  "unknown-role/not-a-role",
			rule:  "unknown-role",
			edits: []edit{replace(c1Spec, "role: agents", "role: agent")},
			file:  c1Spec, line: 13,
			msg: []string{"agent-ssh", `"agent"`},
		},
		{
			name:  "unknown-role/no-nodes",
			rule:  "unknown-role",
			edits: []edit{replace(c1Spec, "    role: masters\n    etcd:", "    role: dns_servers\n    etcd:")},
			file:  c1Spec, line: 7,
			msg: []string{"etcd-healthy", "dns_servers", "c1 has none"},
		},
		{
			name:  "bad-pattern/file-contains",
			rule:  "bad-pattern",
			edits: []edit{replace(imageSpec, "contains: '^Welcome'", "contains: '^(Welcome'")},
			file:  imageSpec, line: 10,
			msg: []string{"/etc/motd", "missing closing )"},
		},
		{
			name:  "bad-pattern/command-stdout",
			rule:  "bad-pattern",
			edits: []edit{replace(imageSpec, `stdout: 'fleet\.$'`, `stdout: 'fleet[.$'`)},
			file:  imageSpec, line: 20,
			msg: []string{"stdout", "cat /etc/motd"},
		},
		{
			name: "spec-version-mismatch/pinned-by-parent",
			rule: "spec-version-mismatch",
			edits: []edit{
				replace("images/base/Dockerfile", "${EXTRA_PKGS}", "${EXTRA_PKGS} chrony=4.3-2+deb12u1"),
				replace(imageSpec, "  - name: systemd\n", "  - name: chrony\n    version: 4.3-2\n"),
			},
			file: imageSpec, line: 4,
			msg: []string{"chrony 4.3-2", "images/base/Dockerfile:4", "4.3-2+deb12u1"},
		},
		{
			name:  "bad-pattern/http-body",
			rule:  "bad-pattern",
			edits: []edit{replace(c1Spec, "body: '^pong$'", "body: '^pong($'")},
			file:  c1Spec, line: 11,
			msg: []string{"marathon-ping"},
		},
	}
}

func TestBrokenFixtures(t *testing.T) {
	severity := map[string]finding.Severity{}
	for _, r := range validate.Rules() {
		severity[r.ID] = r.Severity
	}
	for _, tc := range brokenCases() {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fixture(t)
			for _, e := range tc.edits {
				e.apply(t, fsys)
			}
			_, findings := check(t, fsys)

			var sameRule []finding.Finding
			found := false
			for _, f := range findings {
				if f.Rule != tc.rule {
					continue
				}
				sameRule = append(sameRule, f)
				if f.File == tc.file && f.Line == tc.line && containsAll(f.Message, tc.msg) {
					found = true
					if want := severity[tc.rule]; f.Severity != want {
						t.Errorf("finding %s has severity %s, want %s as Rules() says", f, f.Severity, want)
					}
				}
			}
			if !found {
				t.Errorf("no %s finding at %s:%d mentioning %q\ngot %s findings:\n%s\nall findings:\n%s",
					tc.rule, tc.file, tc.line, tc.msg, tc.rule, list(sameRule), list(findings))
			}
			for _, f := range findings {
				if f.File == "" || f.Message == "" {
					t.Errorf("finding %q has no file or no message; every finding points into the repository", f)
				}
				for _, s := range tc.absent {
					if strings.Contains(f.Message, s) {
						t.Errorf("finding %s reveals %q", f, s)
					}
				}
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestEveryRuleHasABrokenFixture makes a new rule come with a case above.
func TestEveryRuleHasABrokenFixture(t *testing.T) {
	covered := map[string]int{}
	for _, tc := range brokenCases() {
		covered[tc.rule]++
		if !strings.HasPrefix(tc.name, tc.rule+"/") {
			t.Errorf("case %q is named for another rule than %q; name cases rule/what", tc.name, tc.rule)
		}
	}
	var ids []string
	for _, r := range validate.Rules() {
		ids = append(ids, r.ID)
		if covered[r.ID] == 0 {
			t.Errorf("rule %q has no broken fixture in brokenCases()", r.ID)
		}
	}
	for id := range covered {
		if !slices.Contains(ids, id) {
			t.Errorf("brokenCases() has cases for %q, which Rules() does not list", id)
		}
	}
}
