package model

import "gopkg.in/yaml.v3"

// inventoryFile is what one file under inventory/ holds.
type inventoryFile struct {
	profiles []*HardwareProfile
	racks    []*Rack
}

func (d *decoder) inventory(root *yaml.Node) inventoryFile {
	var out inventoryFile
	// Servers refer to profiles through aliases; remember which node is which profile.
	byNode := map[*yaml.Node]string{}
	for k, v := range d.pairs(root, "inventory file") {
		switch k.Value {
		case "hardware_profiles":
			for pk, pv := range d.pairs(v, "hardware_profiles") {
				p := d.profile(pk, pv)
				byNode[resolve(pv)] = p.Name.V
				out.profiles = append(out.profiles, p)
			}
		case "racks":
			for item := range d.items(v, "racks") {
				out.racks = append(out.racks, d.rack(item, byNode))
			}
		default:
			d.unknown(k, "inventory file", "hardware_profiles", "racks")
		}
	}
	return out
}

func (d *decoder) profile(name, n *yaml.Node) *HardwareProfile {
	p := &HardwareProfile{Name: Value[string]{V: name.Value, Pos: d.pos(name)}, Pos: d.pos(n)}
	const what = "hardware profile"
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "vendor":
			p.Vendor = d.str(v, "vendor")
		case "model":
			p.Model = d.str(v, "model")
		case "cpu":
			p.CPU = d.str(v, "cpu")
		case "memory_gb":
			p.MemoryGB = d.integer(v, "memory_gb")
		case "disks":
			p.Disks = d.strs(v, "disks")
		case "flavor":
			p.Flavor = d.str(v, "flavor")
		default:
			d.unknown(k, what, "vendor", "model", "cpu", "memory_gb", "disks", "flavor")
		}
	}
	d.need(n, what+" "+name.Value, "vendor", p.Vendor.Set())
	d.need(n, what+" "+name.Value, "model", p.Model.Set())
	d.need(n, what+" "+name.Value, "flavor", p.Flavor.Set())
	return p
}

func (d *decoder) rack(n *yaml.Node, profiles map[*yaml.Node]string) *Rack {
	r := &Rack{Pos: d.pos(n)}
	const what = "rack"
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "name":
			r.Name = d.str(v, "rack name")
		case "location":
			r.Location = d.str(v, "location")
		case "size":
			r.Size = d.integer(v, "rack size")
		case "pdus":
			r.PDUs = d.strs(v, "pdus")
		case "devices":
			for item := range d.items(v, "devices") {
				d.device(item, r, profiles)
			}
		default:
			d.unknown(k, what, "name", "location", "size", "pdus", "devices")
		}
	}
	d.need(n, what, "name", r.Name.Set())
	d.need(n, what, "location", r.Location.Set())
	d.need(n, what, "size", r.Size.Set())
	return r
}

// device reads one entry of a rack's devices: a mapping with a single key naming its kind.
func (d *decoder) device(n *yaml.Node, r *Rack, profiles map[*yaml.Node]string) {
	found := false
	for k, v := range d.pairs(n, "device") {
		if found {
			d.errorf(k, RuleBadValue, "a device has exactly one kind (server or switch); %q is a second", k.Value)
			continue
		}
		found = true
		switch k.Value {
		case "server":
			s := d.server(v, profiles)
			s.Rack = r
			r.Servers = append(r.Servers, s)
		case "switch":
			sw := d.switchDevice(v)
			sw.Rack = r
			r.Switches = append(r.Switches, sw)
		default:
			d.unknown(k, "device", "server", "switch")
		}
	}
	if !found {
		d.errorf(n, RuleMissingField, "device must be `server:` or `switch:`")
	}
}

func (d *decoder) server(n *yaml.Node, profiles map[*yaml.Node]string) *Server {
	s := &Server{Pos: d.pos(n)}
	const what = "server"
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "name":
			s.Name = d.str(v, "server name")
		case "usage":
			s.Usage = d.str(v, "usage")
		case "additional_names":
			s.AdditionalNames = d.strs(v, "additional_names")
		case "serial":
			s.Serial = d.str(v, "serial")
		case "hardware":
			s.Hardware = d.hardwareRef(v, profiles)
		case "date_added":
			s.DateAdded = d.str(v, "date_added")
		case "ironic_uuid":
			s.IronicUUID = d.str(v, "ironic_uuid")
		case "rack_position":
			s.RackPosition = d.ints(v, "rack_position")
		case "pdus":
			s.PDUs = d.strs(v, "pdus")
		case "ipmi":
			s.IPMI = d.port(v, "ipmi", "mac")
		case "network":
			for item := range d.items(v, "network") {
				s.Network = append(s.Network, d.nic(item))
			}
		default:
			d.unknown(k, what, "name", "usage", "additional_names", "serial", "hardware", "date_added",
				"ironic_uuid", "rack_position", "pdus", "ipmi", "network")
		}
	}
	label := what
	if s.Name.V != "" {
		label = what + " " + s.Name.V
	}
	d.need(n, what, "name", s.Name.Set())
	d.need(n, label, "serial", s.Serial.Set())
	d.need(n, label, "hardware", s.Hardware.Set())
	d.need(n, label, "date_added", s.DateAdded.Set())
	d.need(n, label, "ironic_uuid", s.IronicUUID.Set())
	d.need(n, label, "rack_position", len(s.RackPosition) > 0)
	d.need(n, label, "ipmi", s.IPMI.Pos.Line != 0)
	d.need(n, label, "network", len(s.Network) > 0)
	return s
}

// hardwareRef reads a server's hardware: an alias of a profile defined in the same file, or a
// profile's name.
func (d *decoder) hardwareRef(n *yaml.Node, profiles map[*yaml.Node]string) Value[string] {
	if name, ok := profiles[resolve(n)]; ok {
		return Value[string]{V: name, Pos: d.pos(n)}
	}
	if r := resolve(n); r.Kind != yaml.ScalarNode {
		d.errorf(n, RuleBadValue, "hardware must be an alias of a hardware profile (*name) or a profile's name, not %s", kindName(r))
		return Value[string]{Pos: d.pos(n)}
	}
	return d.str(n, "hardware")
}

func (d *decoder) port(n *yaml.Node, what, macKey string) Port {
	p := Port{Pos: d.pos(n)}
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case macKey:
			p.MAC = d.str(v, what+" "+macKey)
		case "switch":
			p.Switch = d.str(v, what+" switch")
		case "switch_port":
			p.SwitchPort = d.integer(v, what+" switch_port")
		default:
			d.unknown(k, what, macKey, "switch", "switch_port")
		}
	}
	d.need(n, what, macKey, p.MAC.Set())
	return p
}

func (d *decoder) nic(n *yaml.Node) NIC {
	const what = "network interface"
	nic := NIC{Port: Port{Pos: d.pos(n)}}
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "physical_slot":
			nic.Slot = d.str(v, "physical_slot")
		case "mac_address":
			nic.MAC = d.str(v, "mac_address")
		case "switch":
			nic.Switch = d.str(v, "switch")
		case "switch_port":
			nic.SwitchPort = d.integer(v, "switch_port")
		default:
			d.unknown(k, what, "physical_slot", "mac_address", "switch", "switch_port")
		}
	}
	d.need(n, what, "mac_address", nic.MAC.Set())
	return nic
}

func (d *decoder) switchDevice(n *yaml.Node) *Switch {
	sw := &Switch{Pos: d.pos(n)}
	const what = "switch"
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "name":
			sw.Name = d.str(v, "switch name")
		case "model":
			sw.Model = d.str(v, "model")
		case "rack_position":
			sw.RackPosition = d.ints(v, "rack_position")
		case "pdus":
			sw.PDUs = d.strs(v, "pdus")
		default:
			d.unknown(k, what, "name", "model", "rack_position", "pdus")
		}
	}
	d.need(n, what, "name", sw.Name.Set())
	return sw
}
