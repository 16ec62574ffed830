package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// validateOptions are the flags of bot validate.
type validateOptions struct {
	repo string
	rev  string // empty: the working tree
}

func parseValidate(args []string, stderr io.Writer) (validateOptions, error) {
	var o validateOptions
	fs := newFlagSet("validate", "[--repo DIR] [--rev REV]", stderr)
	fs.StringVar(&o.repo, "repo", ".", "the fleet repository")
	fs.StringVar(&o.rev, "rev", "", "check this git revision instead of the working tree")
	return o, parseFlags(fs, args)
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseValidate(args, stderr)
	if err != nil {
		return err
	}
	snap, err := readHead(ctx, fleet.NewReader(), o.repo, o.rev)
	if err != nil {
		return err
	}
	for _, f := range snap.Findings {
		fmt.Fprintln(stdout, f)
	}
	errs := finding.Errors(snap.Findings)
	fmt.Fprintf(stderr, "%s: %s, %s in %s (%s, %s, %s, %s)\n", snap.Rev,
		count(errs, "error"), count(len(snap.Findings)-errs, "warning"), count(len(snap.Repo.Files), "file"),
		count(len(snap.Repo.Servers), "server"), count(len(snap.Repo.Clusters), "cluster"),
		count(nodeCount(snap), "node"), count(len(snap.Repo.Images), "image"))
	if errs > 0 {
		return errFindings
	}
	return nil
}

// count writes "1 error", "2 errors".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func nodeCount(s plan.Snapshot) int {
	n := 0
	for _, c := range s.Repo.Clusters {
		n += len(c.Nodes)
	}
	return n
}

func runRules(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("rules takes no arguments")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tWHAT IT FINDS")
	for _, r := range validate.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Severity, r.Summary)
	}
	return tw.Flush()
}
