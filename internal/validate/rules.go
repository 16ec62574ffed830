// Package validate checks a loaded fleet repository against the rules that keep a fleet
// deployable: unique identities, cross-references between clusters and inventory, sane
// networks, quorum, images that can be built and specs that can run. Every finding carries a
// stable rule id, documented in Rules, and the file, line and column it is about.
package validate

import (
	"fmt"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// Rule describes one kind of finding.
type Rule struct {
	ID       string
	Severity finding.Severity
	Summary  string
}

// Rules returns every rule, the loader's first, in a stable order. The ids are part of the
// product: people grep for them and may silence them; never rename one.
func Rules() []Rule {
	e, w := finding.Error, finding.Warning
	return []Rule{
		{model.RuleYAMLSyntax, e, "the file is not valid YAML, or holds more than one document"},
		{model.RuleUnknownKey, e, "a key the format does not have (often a typo)"},
		{model.RuleDuplicateKey, e, "the same key twice in one mapping"},
		{model.RuleMissingField, e, "a required key is absent"},
		{model.RuleBadValue, e, "a value of the wrong type or form (MAC, IP, UUID, date, size, …)"},

		{"duplicate-server", e, "two servers with one name"},
		{"duplicate-serial", e, "two servers with one serial number"},
		{"duplicate-mac", e, "one MAC address on two interfaces (IPMI or NIC)"},
		{"duplicate-ip", e, "one IP address on two nodes"},
		{"duplicate-ironic-id", e, "one Ironic node UUID for two servers or two nodes"},
		{"duplicate-provision-id", e, "one provision_id for two nodes of a cluster"},
		{"duplicate-switch-port", e, "two interfaces plugged into one switch port"},
		{"duplicate-rack", e, "two racks with one name"},
		{"duplicate-switch", e, "two switches with one name"},
		{"duplicate-cluster", e, "two clusters with one name"},
		{"duplicate-check", e, "two checks with one name in a cluster spec"},
		{"conflicting-definition", e, "a hardware profile or image variant defined twice, differently"},
		{"rack-unit-range", e, "a device in a rack unit outside the rack"},
		{"rack-unit-overlap", e, "two devices in one rack unit"},
		{"pdu-not-in-rack", e, "a device plugged into a PDU its rack does not have"},
		{"unknown-hardware-profile", e, "a server's hardware profile is not defined"},
		{"unknown-switch", w, "an interface plugged into a switch the inventory does not list"},
		{"node-not-in-inventory", e, "a cluster node that is not a server in inventory/"},
		{"node-mac-mismatch", e, "a node's lan.mac is not one of its server's NIC MACs"},
		{"node-ironic-id-mismatch", e, "a node's ironic_id differs from its server's ironic_uuid"},
		{"node-in-two-clusters", e, "one server used twice: in two clusters, or twice in one"},
		{"unknown-image", e, "a node, variant, spec or parent names an image that does not exist"},
		{"unknown-flavor", e, "a node's flavor is not the flavor of any hardware profile"},
		{"flavor-mismatch", e, "a node's flavor is not the flavor of its server's hardware profile"},
		{"ip-outside-subnet", e, "a node's address is not a host address of its subnet, or is its gateway"},
		{"gateway-outside-subnet", e, "a node's gateway is outside the node's subnet"},
		{"vlan-range", e, "a VLAN id outside 1–4094"},
		{"master-quorum", e, "an even or zero number of masters: ZooKeeper and etcd need an odd quorum"},
		{"secret-literal", e, "a secret written into the repository instead of a reference"},
		{"rollout-role", e, "a rollout order or limit names a role the cluster does not have, or twice"},
		{"rollout-max-down", e, "a max_down below 1, or one that would break the masters' quorum"},
		{"image-parent", e, "an image with no parent and no bootstrap, both, or a parent cycle"},
		{"image-dockerfile", e, "an image without a Dockerfile, or one that does not start FROM ${PARENT_IMAGE}"},
		{"build-arg-undeclared", e, "a build argument the Dockerfile does not declare with ARG"},
		{"duplicate-mount", e, "two partitions of an image with one mount point or label"},
		{"unknown-cluster", e, "a cluster spec for a cluster that does not exist"},
		{"unknown-role", e, "a check for a role the cluster has no nodes of"},
		{"bad-pattern", e, "a spec pattern that is not a valid regular expression"},
		{"spec-version-mismatch", e, "an image spec expects a package version other than the one its Dockerfile pins"},
	}
}

// severities maps rule ids to their severity.
func severities() map[string]finding.Severity {
	m := map[string]finding.Severity{}
	for _, r := range Rules() {
		m[r.ID] = r.Severity
	}
	return m
}

// checker runs the rules over one repository.
type checker struct {
	repo     *model.Repo
	sev      map[string]finding.Severity
	findings []finding.Finding
}

func (c *checker) report(p model.Pos, rule, format string, args ...any) {
	sev, ok := c.sev[rule]
	if !ok {
		sev = finding.Error // a test keeps every reported id in Rules()
	}
	c.findings = append(c.findings, finding.Finding{Pos: p, Severity: sev, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// Check runs every rule over repo and returns the findings, sorted by position.
func Check(repo *model.Repo) []finding.Finding {
	// The inventory's checks are half the work and share nothing with the others: run them
	// alongside.
	sev := severities()
	inv := &checker{repo: repo, sev: sev}
	done := make(chan struct{})
	go func() {
		defer close(done)
		inv.inventory()
	}()
	c := &checker{repo: repo, sev: sev}
	c.clusters()
	c.images()
	c.specs()
	<-done
	findings := append(inv.findings, c.findings...)
	finding.Sort(findings)
	return findings
}

// at names a place for a message that points at an earlier definition.
func at(p model.Pos) string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// seen remembers the first place of each key, and reports every later one.
type seen[K comparable] map[K]model.Pos

// first records key at p and returns the earlier place and true if it was seen before.
func (s seen[K]) first(key K, p model.Pos) (model.Pos, bool) {
	if prev, ok := s[key]; ok {
		return prev, true
	}
	s[key] = p
	return model.Pos{}, false
}
