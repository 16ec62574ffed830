// Package fleetgen writes synthetic fleet repositories in the real file format, for benchmarks
// and load tests: any number of racks, servers and clusters, consistent with each other (every
// node's server, MAC, Ironic id and flavor match the inventory), plus small images and specs.
package fleetgen

import (
	"fmt"
	"strings"
)

// Config sizes a synthetic fleet. Zero values take the defaults noted.
type Config struct {
	// Racks is the number of racks, one inventory file each; zero means 250.
	Racks int
	// ServersPerRack is the number of 1U servers in each rack; zero means 40. At most 40.
	ServersPerRack int
	// Clusters is the number of clusters, one file each; zero means 100. Servers are spread
	// evenly over them: in each, 3 masters, 2 DNS servers and the rest agents.
	Clusters int
	// Nameserver is every cluster's DNS server; zero means 10.0.0.53. Changing it changes the
	// machine configuration of every node.
	Nameserver string
	// AgentPackages is a line of the agent image's Dockerfile; changing it changes one image.
	AgentPackages string
	// MasterPackages is the same for the master image.
	MasterPackages string
	// ServerCount, when set, is the number of servers, fewer than Racks × ServersPerRack: the last
	// racks are filled partly.
	ServerCount int
}

func (c Config) withDefaults() Config {
	if c.Racks == 0 {
		c.Racks = 250
	}
	if c.ServersPerRack == 0 {
		c.ServersPerRack = 40
	}
	if c.Clusters == 0 {
		c.Clusters = 100
	}
	if c.Nameserver == "" {
		c.Nameserver = "10.0.0.53"
	}
	if c.AgentPackages == "" {
		c.AgentPackages = "xfsprogs=6.1.0-1"
	}
	if c.MasterPackages == "" {
		c.MasterPackages = "chrony=4.3-2+deb12u1"
	}
	return c
}

// Servers is the number of servers (and nodes) the configuration makes.
func (c Config) Servers() int {
	c = c.withDefaults()
	if c.ServerCount > 0 && c.ServerCount < c.Racks*c.ServersPerRack {
		return c.ServerCount
	}
	return c.Racks * c.ServersPerRack
}

// server is what the inventory and the clusters must agree on.
type server struct {
	index int
	name  string
	rack  int
}

func (s server) mac(nic int) string {
	return fmt.Sprintf("0c:c4:%02x:%02x:%02x:%02x", nic, s.index>>16&0xff, s.index>>8&0xff, s.index&0xff)
}

func (s server) uuid() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", s.index)
}

// Generate returns the fleet's files by path.
func Generate(cfg Config) map[string][]byte {
	cfg = cfg.withDefaults()
	files := map[string][]byte{}
	n := cfg.Servers()
	servers := make([]server, n)
	for i := range servers {
		servers[i] = server{index: i, name: fmt.Sprintf("srv%05d", i), rack: i / cfg.ServersPerRack}
	}
	for r := range cfg.Racks {
		from, to := min(r*cfg.ServersPerRack, n), min((r+1)*cfg.ServersPerRack, n)
		if from < to {
			files[fmt.Sprintf("inventory/rack-%03d.yaml", r)] = rackFile(r, servers[from:to])
		}
	}
	per := n / cfg.Clusters
	for c := range cfg.Clusters {
		end := (c + 1) * per
		if c == cfg.Clusters-1 {
			end = n
		}
		files[fmt.Sprintf("clusters/c%03d.yaml", c)] = clusterFile(c, servers[c*per:end], cfg.Nameserver)
	}
	images(files, cfg.AgentPackages, cfg.MasterPackages)
	return files
}

func rackFile(r int, servers []server) []byte {
	var b strings.Builder
	b.Grow(len(servers) * 700)
	name := fmt.Sprintf("R%03d", r)
	fmt.Fprintf(&b, `hardware_profiles:
  sm-g1: &sm-g1
    vendor: Supermicro
    model: SYS-6028R-TR
    cpu: 2x Xeon E5-2680 v4
    memory_gb: 256
    flavor: baremetal-sm-g1
racks:
  - name: %[1]s
    location: DC-%[2]d
    size: 45
    pdus: [%[1]s/PDU-A, %[1]s/PDU-B]
    devices:
      - switch: {name: %[1]s-ipmi, model: ipmi-switch, rack_position: [43], pdus: [%[1]s/PDU-A]}
      - switch: {name: %[1]s-tor1, model: tor-switch, rack_position: [44], pdus: [%[1]s/PDU-A]}
      - switch: {name: %[1]s-tor2, model: tor-switch, rack_position: [45], pdus: [%[1]s/PDU-B]}
`, name, r/10)
	for i, s := range servers {
		fmt.Fprintf(&b, `      - server:
          name: %[1]s
          usage: Mesos
          serial: S%08[2]d
          hardware: *sm-g1
          date_added: "2016-09-09"
          ironic_uuid: %[3]s
          rack_position: [%[4]d]
          pdus: [%[5]s/PDU-A, %[5]s/PDU-B]
          ipmi:
            mac: %[6]s
            switch: %[5]s-ipmi
            switch_port: %[4]d
          network:
            - physical_slot: sfp-card/1
              mac_address: %[7]s
              switch: %[5]s-tor1
              switch_port: %[4]d
            - physical_slot: sfp-card/2
              mac_address: %[8]s
              switch: %[5]s-tor2
              switch_port: %[4]d
`, s.name, s.index, s.uuid(), i+1, name, s.mac(0), s.mac(1), s.mac(2))
	}
	return []byte(b.String())
}

func clusterFile(c int, servers []server, nameserver string) []byte {
	var b strings.Builder
	b.Grow(len(servers) * 350)
	fmt.Fprintf(&b, `images:
  master: &master
    image: mesos-master
  agent: &agent
    image: mesos-agent
  dns: &dns
    image: mesos-dns
clusters:
  c%03[1]d:
    dns:
      nameservers: [%[2]s]
      data_domain: c%03[1]d.example.net
    etcd:
      token: c%03[1]d
    marathon:
      username: marathon
      password: {secret: vault:secret/c%03[1]d/marathon#password}
    rollout:
      order: [masters, dns_servers, agents]
      max_down: {masters: 1, dns_servers: 1, agents: 10}
`, c, nameserver)
	roles := []struct {
		key, image string
		count      int
	}{{"masters", "master", 3}, {"dns_servers", "dns", 2}, {"agents", "agent", len(servers) - 5}}
	k := 0
	for _, role := range roles {
		fmt.Fprintf(&b, "    %s:\n", role.key)
		for range role.count {
			s := servers[k]
			k++
			fmt.Fprintf(&b, `      %s:
        provision_id: %d
        lan:
          mac: %s
          ip: 10.%d.%d.%d/22
          vlan: %d
          gateway: 10.%d.%d.1
        ironic_id: %s
        flavor: baremetal-sm-g1
        image: *%s
`, s.name, k, s.mac(1), 100+c/64, (c%64)*4+k/250, 10+k%250, 100+c%3000, 100+c/64, (c%64)*4, s.uuid(), role.image)
		}
	}
	return []byte(b.String())
}

func images(files map[string][]byte, agentPackages, masterPackages string) {
	files["images/base/image.yaml"] = []byte("bootstrap:\n  suite: bookworm\n  variant: minbase\n  include: [systemd, linux-image-amd64]\ndisk:\n  size: 4GiB\n")
	files["images/base/Dockerfile"] = []byte("ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\nCOPY tree/ /\n")
	files["images/base/tree/etc/motd"] = []byte("synthetic fleet\n")
	for _, name := range []string{"mesos-master", "mesos-agent", "mesos-dns"} {
		files["images/"+name+"/image.yaml"] = []byte("parent: base\ndisk:\n  size: 8GiB\n")
		pkgs := "chrony=4.3-2+deb12u1"
		switch name {
		case "mesos-agent":
			pkgs = agentPackages
		case "mesos-master":
			pkgs = masterPackages
		}
		files["images/"+name+"/Dockerfile"] = []byte("ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\nRUN apt-get update && apt-get install -y " + pkgs + "\nCOPY tree/ /\n")
		files["images/"+name+"/tree/etc/role"] = []byte(name + "\n")
	}
}
