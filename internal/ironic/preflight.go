package ironic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Problem is one reason a node cannot be deployed now.
type Problem struct {
	Node, IronicID string
	Reason         string
}

func (p Problem) String() string {
	return fmt.Sprintf("node %s (%s): %s", p.Node, p.IronicID, p.Reason)
}

// PreflightError lists every problem Preflight found, in the order of the targets.
type PreflightError struct {
	Problems []Problem
}

func (e *PreflightError) Error() string {
	if len(e.Problems) == 1 {
		return "preflight: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "preflight: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Preflight checks every target before anything is changed, and makes no change itself. It
// returns a *PreflightError listing every problem of every node at once: unknown to Ironic,
// in maintenance, ports whose MACs differ from the inventory's, a provision state Deploy does
// not handle or Ironic busy with the node for someone else, an image (or kernel, ramdisk) URL
// that does not answer a HEAD with 2xx. When Ironic itself cannot be reached, or does not
// support the configured microversion, it returns that single error instead.
func (p *Provisioner) Preflight(ctx context.Context, targets []Target) error {
	v, err := p.api.APIVersions(ctx)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if err := checkVersions(p.cfg.Microversion, v); err != nil {
		return fmt.Errorf("preflight: ironic: %w", err)
	}
	reasons := make([][]string, len(targets))
	urls := map[string][]int{} // image URL → the targets that need it
	var order []string
	for i, t := range targets {
		rs, err := p.checkNode(ctx, t)
		if err != nil {
			return fmt.Errorf("preflight: node %s (%s): %w", t.Node, t.IronicID, err)
		}
		reasons[i] = rs
		for _, u := range []string{t.Image.URL, t.Image.KernelURL, t.Image.RamdiskURL} {
			if u == "" {
				continue
			}
			if _, seen := urls[u]; !seen {
				order = append(order, u)
			}
			urls[u] = append(urls[u], i)
		}
	}
	// Nodes share images: each URL is asked once.
	for _, u := range order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		if r := p.checkURL(ctx, u); r != "" {
			for _, i := range urls[u] {
				reasons[i] = append(reasons[i], r)
			}
		}
	}
	var problems []Problem
	for i, t := range targets {
		for _, r := range reasons[i] {
			problems = append(problems, Problem{Node: t.Node, IronicID: t.IronicID, Reason: r})
		}
	}
	if len(problems) > 0 {
		return &PreflightError{Problems: problems}
	}
	return nil
}

// checkNode returns what is wrong with t's node on Ironic's side, or an error when Ironic
// could not be asked.
func (p *Provisioner) checkNode(ctx context.Context, t Target) ([]string, error) {
	var out []string
	if t.Image.URL == "" {
		out = append(out, "no image URL")
	}
	if t.IronicID == "" {
		return append(out, "no Ironic id"), nil
	}
	n, err := p.api.GetNode(ctx, t.IronicID)
	switch {
	case errors.Is(err, ErrNotFound):
		return append(out, "unknown to Ironic"), nil
	case fatal(ctx, err):
		return nil, err
	case err != nil:
		return append(out, "reading the node: "+err.Error()), nil
	}
	if n.Maintenance {
		r := "in maintenance"
		if n.MaintenanceReason != "" {
			r += ": " + n.MaintenanceReason
		}
		out = append(out, r)
	}
	if r := stateProblem(n, t); r != "" {
		out = append(out, r)
	}
	ports, err := p.api.ListNodePorts(ctx, t.IronicID)
	switch {
	case fatal(ctx, err):
		return nil, err
	case err != nil:
		out = append(out, "listing the node's ports: "+err.Error())
	default:
		if r := macProblem(ports, t.MACs); r != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// fatal reports whether err stops the whole preflight: Ironic unreachable, or ctx done.
func fatal(ctx context.Context, err error) bool {
	return err != nil && (errors.Is(err, ErrUnreachable) || ctx.Err() != nil)
}

// stateProblem says why Deploy could not work from the node's provision state, or "".
func stateProblem(n Node, t Target) string {
	state := n.ProvisionState
	switch {
	case canTrigger(state) || state == stateEnroll || state == stateManageable:
		return ""
	case waitable(state):
		if pend, ok := pendingOf(n); ok && pend.ImageID == t.ImageID && pend.ConfigHash == t.ConfigHash {
			return "" // our own deploy, to resume
		}
		return fmt.Sprintf("provision state %q: Ironic is busy with the node, and not with a deploy of this image and config", state)
	}
	r := fmt.Sprintf("provision state %q: deploys do not start from it; an operator must look at the node", state)
	if n.LastError != "" {
		r += " (last_error: " + n.LastError + ")"
	}
	return r
}

// macProblem compares the node's ports with the inventory's MACs, ignoring case.
func macProblem(ports []Port, macs []string) string {
	have := map[string]bool{}
	for _, p := range ports {
		have[strings.ToLower(p.Address)] = true
	}
	want := map[string]bool{}
	for _, m := range macs {
		want[strings.ToLower(m)] = true
	}
	var missing, extra []string
	for m := range want {
		if !have[m] {
			missing = append(missing, m)
		}
	}
	for m := range have {
		if !want[m] {
			extra = append(extra, m)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "no Ironic port for "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "Ironic port for "+strings.Join(extra, ", ")+" not in the inventory")
	}
	return "MACs differ from the inventory: " + strings.Join(parts, "; ")
}

// checkURL says what is wrong with an image URL, or "": a HEAD must answer 2xx. A server that
// does not allow HEAD (405) is asked for the first byte instead.
func (p *Provisioner) checkURL(ctx context.Context, u string) string {
	status, err := p.probe(ctx, http.MethodHead, u)
	if err == nil && status == http.StatusMethodNotAllowed {
		status, err = p.probe(ctx, http.MethodGet, u)
	}
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("image URL %s unreachable: %v", u, err)
	case status < 200 || status > 299:
		return fmt.Sprintf("image URL %s answered %d %s", u, status, http.StatusText(status))
	}
	return ""
}

func (p *Provisioner) probe(ctx context.Context, method, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, err
	}
	if method == http.MethodGet {
		req.Header.Set("Range", "bytes=0-0")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}
