package validate

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// isUUID reports whether s is a UUID in the lowercase, hyphenated form Ironic uses.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !('0' <= r && r <= '9' || 'a' <= r && r <= 'f'):
			return false
		}
	}
	return true
}

func (c *checker) inventory() {
	c.profiles()
	racks := seen[string]{}
	servers := seen[string]{}
	serials := seen[string]{}
	ironic := seen[string]{}
	macs := map[string]owned{}
	ports := seen[string]{}
	switches := seen[string]{}
	for _, sw := range c.repo.Switches {
		if prev, dup := switches.first(sw.Name.V, sw.Name.Pos); dup && sw.Name.V != "" {
			c.report(sw.Name.Pos, "duplicate-switch", "switch %q is also defined at %s", sw.Name.V, at(prev))
		}
	}
	for _, r := range c.repo.Racks {
		if prev, dup := racks.first(r.Name.V, r.Name.Pos); dup && r.Name.V != "" {
			c.report(r.Name.Pos, "duplicate-rack", "rack %q is also defined at %s", r.Name.V, at(prev))
		}
		if r.Size.Set() && (r.Size.V < 1 || r.Size.V > 60) {
			c.report(r.Size.Pos, model.RuleBadValue, "rack size %d is not between 1 and 60 units", r.Size.V)
		}
		c.rackUnits(r)
	}
	for _, s := range c.repo.Servers {
		name := s.Name.V
		if prev, dup := servers.first(name, s.Name.Pos); dup && name != "" {
			c.report(s.Name.Pos, "duplicate-server", "server %q is also defined at %s", name, at(prev))
		}
		if prev, dup := serials.first(s.Serial.V, s.Serial.Pos); dup && s.Serial.V != "" {
			c.report(s.Serial.Pos, "duplicate-serial", "server %s has serial %q, as does the server at %s", name, s.Serial.V, at(prev))
		}
		if s.IronicUUID.Set() {
			if !isUUID(s.IronicUUID.V) {
				c.report(s.IronicUUID.Pos, model.RuleBadValue, "ironic_uuid %q of server %s is not a lowercase UUID", s.IronicUUID.V, name)
			} else if prev, dup := ironic.first(s.IronicUUID.V, s.IronicUUID.Pos); dup {
				c.report(s.IronicUUID.Pos, "duplicate-ironic-id", "server %s has ironic_uuid %s, as does the server at %s", name, s.IronicUUID.V, at(prev))
			}
		}
		if s.DateAdded.Set() {
			if _, err := time.Parse(time.DateOnly, s.DateAdded.V); err != nil {
				c.report(s.DateAdded.Pos, model.RuleBadValue, "date_added %q of server %s is not a date (YYYY-MM-DD)", s.DateAdded.V, name)
			}
		}
		if s.Hardware.V != "" && c.repo.Profile(s.Hardware.V) == nil {
			c.report(s.Hardware.Pos, "unknown-hardware-profile", "server %s uses hardware profile %q, which no inventory file defines", name, s.Hardware.V)
		}
		c.pdus(s.Rack, s.PDUs, "server "+name)
		c.iface(fmt.Sprintf("server %s ipmi", name), s.IPMI, macs, ports, switches)
		for _, nic := range s.Network {
			c.iface(fmt.Sprintf("server %s nic %s", name, nic.Slot.V), nic.Port, macs, ports, switches)
		}
	}
}

// owned is the first owner of a unique thing, for messages about the second.
type owned struct {
	owner string
	pos   model.Pos
}

// iface checks one network interface: a valid MAC used nowhere else, a switch port used
// nowhere else, on a switch the inventory knows.
func (c *checker) iface(owner string, p model.Port, macs map[string]owned, ports, switches seen[string]) {
	if p.MAC.Set() {
		mac, err := net.ParseMAC(p.MAC.V)
		switch {
		case err != nil || len(mac) != 6:
			c.report(p.MAC.Pos, model.RuleBadValue, "%s: %q is not a MAC address (like 0c:c4:7a:ae:d7:84)", owner, p.MAC.V)
		case macs[mac.String()].owner != "":
			prev := macs[mac.String()]
			c.report(p.MAC.Pos, "duplicate-mac", "%s has MAC %s, as does %s at %s", owner, mac, prev.owner, at(prev.pos))
		default:
			macs[mac.String()] = owned{owner, p.MAC.Pos}
		}
	}
	if p.Switch.V != "" && p.SwitchPort.Set() {
		key := fmt.Sprintf("%s port %d", p.Switch.V, p.SwitchPort.V)
		if prev, dup := ports.first(key, p.SwitchPort.Pos); dup {
			c.report(p.SwitchPort.Pos, "duplicate-switch-port", "%s is plugged into %s, as is the interface at %s", owner, key, at(prev))
		}
	}
	if p.Switch.V != "" && len(switches) > 0 {
		if _, ok := switches[p.Switch.V]; !ok {
			c.report(p.Switch.Pos, "unknown-switch", "%s is plugged into switch %q, which no rack lists", owner, p.Switch.V)
		}
	}
}

// profiles reports a hardware profile defined twice, differently (each rack file defines the
// profiles its aliases point at).
func (c *checker) profiles() {
	first := map[string]*model.HardwareProfile{}
	for _, p := range c.repo.Profiles {
		prev, ok := first[p.Name.V]
		if !ok {
			first[p.Name.V] = p
			continue
		}
		if profileKey(prev) != profileKey(p) {
			c.report(p.Name.Pos, "conflicting-definition", "hardware profile %q differs from its definition at %s", p.Name.V, at(prev.Name.Pos))
		}
	}
}

func profileKey(p *model.HardwareProfile) string {
	disks := make([]string, len(p.Disks))
	for i, d := range p.Disks {
		disks[i] = d.V
	}
	return fmt.Sprintf("%q %q %q %d %q %q", p.Vendor.V, p.Model.V, p.CPU.V, p.MemoryGB.V, disks, p.Flavor.V)
}

// rackUnits checks that every device sits inside its rack and no two share a unit.
func (c *checker) rackUnits(r *model.Rack) {
	used := map[int]string{}
	usedAt := map[int]model.Pos{}
	place := func(owner string, units []model.Value[int]) {
		for _, u := range units {
			if r.Size.Set() && (u.V < 1 || u.V > r.Size.V) {
				c.report(u.Pos, "rack-unit-range", "%s is in unit %d, outside rack %s (units 1–%d)", owner, u.V, r.Name.V, r.Size.V)
				continue
			}
			if other, taken := used[u.V]; taken {
				c.report(u.Pos, "rack-unit-overlap", "%s is in unit %d of rack %s, which %s already takes (%s)", owner, u.V, r.Name.V, other, at(usedAt[u.V]))
				continue
			}
			used[u.V], usedAt[u.V] = owner, u.Pos
		}
	}
	for _, sw := range r.Switches {
		place("switch "+sw.Name.V, sw.RackPosition)
		c.pdus(r, sw.PDUs, "switch "+sw.Name.V)
	}
	for _, s := range r.Servers {
		place("server "+s.Name.V, s.RackPosition)
	}
}

// pdus checks a device is plugged only into PDUs of its own rack.
func (c *checker) pdus(r *model.Rack, pdus []model.Value[string], owner string) {
	for _, p := range pdus {
		if !slices.ContainsFunc(r.PDUs, func(v model.Value[string]) bool { return v.V == p.V }) {
			c.report(p.Pos, "pdu-not-in-rack", "%s is plugged into PDU %q, which rack %s does not have", owner, p.V, r.Name.V)
		}
	}
}
