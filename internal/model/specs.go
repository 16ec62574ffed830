package model

import "gopkg.in/yaml.v3"

func (d *decoder) imageSpec(root *yaml.Node) *ImageSpec {
	s := &ImageSpec{Pos: d.pos(root)}
	const what = "image spec"
	for k, v := range d.pairs(root, what) {
		switch k.Value {
		case "image":
			s.Image = d.str(v, "image")
		case "packages":
			for item := range d.items(v, "packages") {
				s.Packages = append(s.Packages, d.packageSpec(item))
			}
		case "files":
			for item := range d.items(v, "files") {
				s.Files = append(s.Files, d.fileSpec(item))
			}
		case "services":
			for item := range d.items(v, "services") {
				s.Services = append(s.Services, d.serviceSpec(item))
			}
		case "users":
			for item := range d.items(v, "users") {
				s.Users = append(s.Users, d.userSpec(item))
			}
		case "commands":
			for item := range d.items(v, "commands") {
				s.Commands = append(s.Commands, d.commandSpec(item))
			}
		default:
			d.unknown(k, what, "image", "packages", "files", "services", "users", "commands")
		}
	}
	d.need(root, what, "image", s.Image.Set())
	return s
}

func (d *decoder) packageSpec(n *yaml.Node) PackageSpec {
	p := PackageSpec{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "package") {
		switch k.Value {
		case "name":
			p.Name = d.str(v, "package name")
		case "version":
			p.Version = d.str(v, "package version")
		default:
			d.unknown(k, "package", "name", "version")
		}
	}
	d.need(n, "package", "name", p.Name.Set())
	return p
}

func (d *decoder) fileSpec(n *yaml.Node) FileSpec {
	f := FileSpec{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "file") {
		switch k.Value {
		case "path":
			f.Path = d.str(v, "path")
		case "type":
			f.Type = d.str(v, "type")
		case "mode":
			f.Mode = d.str(v, "mode")
		case "owner":
			f.Owner = d.str(v, "owner")
		case "group":
			f.Group = d.str(v, "group")
		case "contains":
			f.Contains = d.str(v, "contains")
		default:
			d.unknown(k, "file", "path", "type", "mode", "owner", "group", "contains")
		}
	}
	d.need(n, "file", "path", f.Path.Set())
	return f
}

func (d *decoder) serviceSpec(n *yaml.Node) ServiceSpec {
	s := ServiceSpec{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "service") {
		switch k.Value {
		case "unit":
			s.Unit = d.str(v, "unit")
		case "state":
			s.State = d.str(v, "state")
		default:
			d.unknown(k, "service", "unit", "state")
		}
	}
	d.need(n, "service", "unit", s.Unit.Set())
	d.need(n, "service", "state", s.State.Set())
	return s
}

func (d *decoder) userSpec(n *yaml.Node) UserSpec {
	u := UserSpec{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "user") {
		switch k.Value {
		case "name":
			u.Name = d.str(v, "user name")
		case "groups":
			u.Groups = d.strs(v, "groups")
		default:
			d.unknown(k, "user", "name", "groups")
		}
	}
	d.need(n, "user", "name", u.Name.Set())
	return u
}

func (d *decoder) commandSpec(n *yaml.Node) CommandSpec {
	c := CommandSpec{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "command") {
		switch k.Value {
		case "run":
			c.Run = d.str(v, "run")
		case "exit_status":
			c.ExitStatus = d.integer(v, "exit_status")
		case "stdout":
			c.Stdout = d.str(v, "stdout")
		case "stderr":
			c.Stderr = d.str(v, "stderr")
		default:
			d.unknown(k, "command", "run", "exit_status", "stdout", "stderr")
		}
	}
	d.need(n, "command", "run", c.Run.Set())
	return c
}

func (d *decoder) clusterSpec(root *yaml.Node) *ClusterSpec {
	s := &ClusterSpec{Pos: d.pos(root)}
	const what = "cluster spec"
	for k, v := range d.pairs(root, what) {
		switch k.Value {
		case "cluster":
			s.Cluster = d.str(v, "cluster")
		case "checks":
			for item := range d.items(v, "checks") {
				s.Checks = append(s.Checks, d.check(item))
			}
		default:
			d.unknown(k, what, "cluster", "checks")
		}
	}
	d.need(root, what, "cluster", s.Cluster.Set())
	return s
}

func (d *decoder) check(n *yaml.Node) Check {
	c := Check{Pos: d.pos(n)}
	const what = "check"
	kinds := 0
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "name":
			c.Name = d.str(v, "check name")
		case "role":
			c.Role = d.str(v, "role")
		case "timeout":
			c.Timeout = d.duration(v, "timeout")
		case "zookeeper":
			kinds++
			c.ZooKeeper = &ZooKeeperCheck{}
			for zk, zv := range d.pairs(v, "zookeeper check") {
				switch zk.Value {
				case "port":
					c.ZooKeeper.Port = d.integer(zv, "port")
				case "leaders":
					c.ZooKeeper.Leaders = d.integer(zv, "leaders")
				case "write_read":
					c.ZooKeeper.WriteRead = d.boolean(zv, "write_read")
				default:
					d.unknown(zk, "zookeeper check", "port", "leaders", "write_read")
				}
			}
		case "etcd":
			kinds++
			c.Etcd = &EtcdCheck{}
			for ek, ev := range d.pairs(v, "etcd check") {
				switch ek.Value {
				case "port":
					c.Etcd.Port = d.integer(ev, "port")
				default:
					d.unknown(ek, "etcd check", "port")
				}
			}
		case "http":
			kinds++
			c.HTTP = &HTTPCheck{}
			for hk, hv := range d.pairs(v, "http check") {
				switch hk.Value {
				case "port":
					c.HTTP.Port = d.integer(hv, "port")
				case "path":
					c.HTTP.Path = d.str(hv, "path")
				case "status":
					c.HTTP.Status = d.integer(hv, "status")
				case "body":
					c.HTTP.Body = d.str(hv, "body")
				default:
					d.unknown(hk, "http check", "port", "path", "status", "body")
				}
			}
		case "tcp":
			kinds++
			c.TCP = &TCPCheck{}
			for tk, tv := range d.pairs(v, "tcp check") {
				switch tk.Value {
				case "port":
					c.TCP.Port = d.integer(tv, "port")
				default:
					d.unknown(tk, "tcp check", "port")
				}
			}
		default:
			d.unknown(k, what, "name", "role", "timeout", "zookeeper", "etcd", "http", "tcp")
		}
	}
	d.need(n, what, "name", c.Name.Set())
	d.need(n, what, "role", c.Role.Set())
	if kinds != 1 {
		d.errorf(n, RuleBadValue, "check %q must have exactly one of zookeeper, etcd, http, tcp (it has %d)", c.Name.V, kinds)
	}
	if !c.Timeout.Set() {
		c.Timeout.V = DefaultCheckTimeout
	}
	return c
}
