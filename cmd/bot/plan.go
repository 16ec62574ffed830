package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/render"
)

// planOptions are the flags of bot plan.
type planOptions struct {
	repo      string
	base      string
	head      string // empty: the working tree
	bootstrap bool
	format    string
	output    string // empty: standard output
}

func parsePlan(args []string, stderr io.Writer) (planOptions, error) {
	var o planOptions
	fs := newFlagSet("plan", "[--repo DIR] [--base REV | --bootstrap] [--head REV] [--format markdown|json] [--output FILE]", stderr)
	fs.StringVar(&o.repo, "repo", ".", "the fleet repository (a git checkout)")
	fs.StringVar(&o.base, "base", "", "the revision deployed now (default HEAD)")
	fs.StringVar(&o.head, "head", "", "the revision to deploy (default: the working tree)")
	fs.BoolVar(&o.bootstrap, "bootstrap", false, "plan from an empty fleet: provision everything")
	fs.StringVar(&o.format, "format", "markdown", "output format: markdown or json")
	fs.StringVar(&o.output, "output", "", "write the plan to this file instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if o.bootstrap && o.base != "" {
		return o, errors.New("--bootstrap plans from nothing; it cannot be used with --base")
	}
	if !o.bootstrap && o.base == "" {
		o.base = "HEAD"
	}
	return o, oneOf("format", o.format, "markdown", "json")
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parsePlan(args, stderr)
	if err != nil {
		return err
	}
	r := fleet.NewReader()
	head, err := readHead(ctx, r, o.repo, o.head)
	if err != nil {
		return err
	}
	var base plan.Snapshot
	if o.bootstrap {
		base, err = r.Empty(ctx)
	} else {
		base, err = r.GitBase(ctx, o.repo, o.base)
	}
	if err != nil {
		return err
	}
	p := plan.Compute(base, head)
	var out []byte
	if o.format == "json" {
		if out, err = render.JSON(p); err != nil {
			return err
		}
	} else {
		out = []byte(render.Markdown(p, 0))
	}
	if o.output != "" {
		if err := os.WriteFile(o.output, out, 0o644); err != nil {
			return fmt.Errorf("writing the plan: %w", err)
		}
	} else if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("writing the plan: %w", err)
	}
	if !p.Valid {
		fmt.Fprintf(stderr, "bot plan: %s has %s; run bot validate for the list\n", head.Rev, count(p.Summary.Errors, "validation error"))
		return errFindings
	}
	return nil
}

// readHead loads the revision to deploy: rev of the repository, or its working tree when rev
// is empty.
func readHead(ctx context.Context, r *fleet.Reader, repo, rev string) (plan.Snapshot, error) {
	if rev == "" {
		return r.Dir(ctx, repo)
	}
	return r.Git(ctx, repo, rev)
}
