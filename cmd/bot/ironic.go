package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
)

const ironicUsage = `Usage: bot ironic COMMAND [flags]

Commands:
  enroll   register the inventory's servers in Ironic: create the nodes and ports that are
           missing, update what differs, keep the rest; one line per node: created, updated
           or unchanged. --dry-run prints the Ironic calls instead of making them.
`

// runIronic dispatches bot ironic's subcommands.
func runIronic(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ironicUsage)
		return errors.New("no ironic command given")
	}
	switch args[0] {
	case "enroll":
		return runIronicEnroll(ctx, args[1:], os.Getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, ironicUsage)
		return errHelp
	}
	return fmt.Errorf("unknown ironic command %q (see bot ironic --help)", args[0])
}

// ironicEnrollOptions are the flags of bot ironic enroll.
type ironicEnrollOptions struct {
	repo, rev    string
	driver       string
	url          string
	username     string
	passwordFile string
	microversion string
	dryRun       bool
}

func parseIronicEnroll(args []string, getenv func(string) string, stderr io.Writer) (ironicEnrollOptions, error) {
	var o ironicEnrollOptions
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := newFlagSet("ironic enroll", "[--repo DIR] [--rev REV] [--driver NAME] [--ironic-url URL] [--dry-run]", stderr)
	fs.StringVar(&o.repo, "repo", ".", "the fleet repository")
	fs.StringVar(&o.rev, "rev", "", "enroll from this git revision instead of the working tree")
	fs.StringVar(&o.driver, "driver", ironic.DefaultDriver, "Ironic hardware type of new nodes (fake-hardware for tests)")
	fs.StringVar(&o.url, "ironic-url", or("CAC_IRONIC_URL", ""), "Ironic's API endpoint, e.g. http://ironic:6385 (CAC_IRONIC_URL); with --dry-run and none, start from an empty Ironic")
	fs.StringVar(&o.username, "ironic-username", or("CAC_IRONIC_USERNAME", ""), "HTTP basic user for Ironic; empty means noauth (CAC_IRONIC_USERNAME; password in CAC_IRONIC_PASSWORD or --ironic-password-file)")
	fs.StringVar(&o.passwordFile, "ironic-password-file", or("CAC_IRONIC_PASSWORD_FILE", ""), "file holding the Ironic password (CAC_IRONIC_PASSWORD_FILE)")
	fs.StringVar(&o.microversion, "ironic-microversion", or("CAC_IRONIC_MICROVERSION", ironic.DefaultMicroversion), "Ironic API microversion, at least 1.59 (CAC_IRONIC_MICROVERSION)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read Ironic but change nothing; print the calls a real run would make")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if o.url == "" && !o.dryRun {
		return o, errors.New("no Ironic: give --ironic-url or set CAC_IRONIC_URL (or --dry-run to see what enroll would do to an empty Ironic)")
	}
	return o, nil
}

func runIronicEnroll(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseIronicEnroll(args, getenv, stderr)
	if err != nil {
		return err
	}
	snap, err := readHead(ctx, fleet.NewReader(), o.repo, o.rev)
	if err != nil {
		return err
	}
	if n := finding.Errors(snap.Findings); n > 0 {
		fmt.Fprintf(stderr, "bot ironic enroll: %s has %s; run bot validate for the list\n", snap.Rev, count(n, "validation error"))
		return errFindings
	}
	specs, err := ironic.EnrollSpecs(snap.Repo, o.driver)
	if err != nil {
		return err
	}

	var api ironic.API
	if o.url != "" {
		cfg := ironic.Config{URL: o.url, Username: o.username, Microversion: o.microversion}
		if o.username != "" {
			pw, _, err := secret("Ironic password", o.passwordFile, "CAC_IRONIC_PASSWORD", getenv)
			if err != nil {
				return err
			}
			cfg.Password = string(pw)
		}
		client, err := ironic.NewClient(ctx, cfg)
		if err != nil {
			return err
		}
		api = client
	}
	var rec *ironic.Recorder
	if o.dryRun {
		rec = ironic.NewRecorder(api, nil, nil)
		api = rec
	}

	tally := map[ironic.EnrollAction]int{}
	_, enrollErr := ironic.Enroll(ctx, api, specs, func(r ironic.EnrollResult) {
		tally[r.Action]++
		fmt.Fprintln(stdout, r)
	})
	if rec != nil {
		fmt.Fprintln(stdout, "\nIronic calls a real run would make (none was sent):")
		for _, c := range rec.Calls() {
			fmt.Fprintln(stdout, "  "+c.String())
		}
	}
	fmt.Fprintf(stderr, "%d created, %d updated, %d unchanged, %d failed\n", tally[ironic.EnrollCreated],
		tally[ironic.EnrollUpdated], tally[ironic.EnrollUnchanged], tally[ironic.EnrollFailed])
	return enrollErr
}
