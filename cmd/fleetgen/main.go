// Command fleetgen writes a synthetic fleet repository (the real file format, consistent
// inventory and clusters) into a folder, for benchmarks of the bot command on large fleets:
//
//	go run ./cmd/fleetgen --out /tmp/fleet --racks 250 --clusters 100
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "fleetgen: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	var cfg fleetgen.Config
	var out string
	fs := flag.NewFlagSet("fleetgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&out, "out", "", "the folder to write the fleet into (required)")
	fs.IntVar(&cfg.Racks, "racks", 250, "racks, one inventory file each")
	fs.IntVar(&cfg.ServersPerRack, "servers-per-rack", 40, "servers in each rack (at most 40)")
	fs.IntVar(&cfg.Clusters, "clusters", 100, "clusters, one file each")
	fs.StringVar(&cfg.Nameserver, "nameserver", "", "every cluster's nameserver (change it to touch every cluster)")
	fs.StringVar(&cfg.AgentPackages, "agent-packages", "", "the agent image's packages (change it to touch one image)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if out == "" {
		return fmt.Errorf("--out is required")
	}
	if cfg.ServersPerRack > 40 || cfg.Racks < 1 || cfg.Clusters < 1 || cfg.Servers() < 5*cfg.Clusters {
		return fmt.Errorf("need at least 1 rack, 1 cluster, at most 40 servers a rack and 5 servers a cluster")
	}
	for p, data := range fleetgen.Generate(cfg) {
		path := filepath.Join(out, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
