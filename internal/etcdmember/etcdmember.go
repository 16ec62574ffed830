// Package etcdmember replaces one member of a running etcd cluster before its machine is
// re-imaged: a re-imaged master has an empty data directory, which etcd refuses to bring back
// into the cluster it was a member of. The member is removed and added again with the same
// peer URL, so that the new machine starts with --initial-cluster-state existing and fetches
// the data from the others.
//
// It talks to etcd 3.4's v3 JSON gateway (POST /v3/cluster/member/list, …/remove, …/add and
// GET /health) with the standard library only.
package etcdmember

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrQuorum is wrapped by Replace's error when too few of the other members are healthy for
// the cluster to keep its quorum through the replacement.
var ErrQuorum = errors.New("the cluster would lose quorum")

// Member is a member as etcd lists it. A member that was added but has not started yet has
// no name and no client URLs.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
}

// member is a member in the gateway's JSON: uint64 ids are strings.
type member struct {
	ID         string   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// Replace makes the cluster ready for member name to start again from an empty data
// directory with --initial-cluster-state existing, advertising peerURL. endpoints are the
// client URLs of the cluster's OTHER members (http://10.11.11.152:2379).
//
// It is idempotent and safe to run again after being cut off anywhere:
//
//   - a member named name is removed, then peerURL is added;
//   - a member with peerURL and no name (added, not started: an earlier Replace got that far)
//     means there is nothing to do;
//   - no member with either (an earlier Replace was cut off between remove and add): peerURL
//     is added.
//
// It changes nothing unless a majority of the members that remain answer GET /health
// healthy: then the cluster keeps its quorum while the replaced member is away (ErrQuorum).
// Errors name the endpoint and what etcd answered.
func Replace(ctx context.Context, client *http.Client, endpoints []string, name, peerURL string) error {
	if client == nil {
		client = http.DefaultClient
	}
	if len(endpoints) == 0 {
		return fmt.Errorf("replacing etcd member %q: no endpoints of the other members", name)
	}
	var healthy []string
	var sick []error
	for _, ep := range endpoints {
		if err := Health(ctx, client, ep); err != nil {
			sick = append(sick, err)
			continue
		}
		healthy = append(healthy, ep)
	}
	if len(healthy) == 0 {
		return fmt.Errorf("replacing etcd member %q: no member answers healthy: %w: %w", name, ErrQuorum, errors.Join(sick...))
	}
	ep := healthy[0]
	members, err := List(ctx, client, ep)
	if err != nil {
		return fmt.Errorf("replacing etcd member %q: %w", name, err)
	}
	var target *Member
	var others int
	for i, m := range members {
		switch {
		case m.Name == name:
			target = &members[i]
		case slices.Contains(m.PeerURLs, peerURL):
			if m.Name != "" {
				return fmt.Errorf("replacing etcd member %q: peer URL %s belongs to member %q (%s)", name, peerURL, m.Name, ep)
			}
			// Added by an earlier Replace and not started yet: that is where Replace ends.
			return nil
		default:
			others++
		}
	}
	// The members that remain must keep a majority of themselves healthy; the endpoints are
	// theirs, so those that answered are the healthy ones.
	if need := others/2 + 1; len(healthy) < need {
		return fmt.Errorf("replacing etcd member %q: %d of the %d other members answer healthy, %d needed: %w: %w",
			name, len(healthy), others, need, ErrQuorum, errors.Join(sick...))
	}
	if target != nil {
		id := target.ID
		remove := func() error {
			err := Remove(ctx, client, ep, id)
			if err != nil && strings.Contains(err.Error(), "etcdserver: member not found") {
				return nil // removed already: by an answer lost, or a retry
			}
			return err
		}
		if err := patiently(ctx, remove); err != nil {
			return fmt.Errorf("replacing etcd member %q: %w", name, err)
		}
	}
	add := func() error {
		_, err := Add(ctx, client, ep, peerURL)
		if err == nil {
			return nil
		}
		// An add that was applied may still be answered with an error (seen: 404 "member not
		// found" right after a remove): what the cluster lists decides.
		if ms, lerr := List(ctx, client, ep); lerr == nil {
			for _, m := range ms {
				if m.Name == "" && slices.Contains(m.PeerURLs, peerURL) {
					return nil
				}
			}
		}
		return err
	}
	if err := patiently(ctx, add); err != nil {
		return fmt.Errorf("replacing etcd member %q: %w", name, err)
	}
	return nil
}

// patiently runs a membership change, again while etcd refuses it as "unhealthy cluster":
// with --strict-reconfig-check (the default) etcd changes the membership only once every
// member has been connected to the others for 5s, which after a remove or a peer's restart
// takes a few seconds.
func patiently(ctx context.Context, change func() error) error {
	deadline := time.Now().Add(reconfigPatience)
	for {
		err := change()
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// retryable reports whether etcd refused a membership change for now: "unhealthy cluster"
// (strict reconfiguration check), or "member not found" while a removal is still being
// applied.
func retryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "etcdserver: unhealthy cluster") || strings.Contains(msg, "etcdserver: member not found")
}

// reconfigPatience is how long Replace retries a change etcd refuses as "unhealthy cluster":
// a little more than twice etcd's 5s health interval.
const reconfigPatience = 15 * time.Second

// Health checks GET endpoint/health answers {"health":"true"}.
func Health(ctx context.Context, client *http.Client, endpoint string) error {
	url := strings.TrimRight(endpoint, "/") + "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var h struct {
		Health string `json:"health"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Health != "true" {
		return fmt.Errorf("etcd %s: GET /health: %s: %s", endpoint, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// List returns the cluster's members as the member at endpoint knows them.
func List(ctx context.Context, client *http.Client, endpoint string) ([]Member, error) {
	var out struct {
		Members []member `json:"members"`
	}
	if err := call(ctx, client, endpoint, "/v3/cluster/member/list", struct{}{}, &out); err != nil {
		return nil, err
	}
	return convert(endpoint, out.Members)
}

// Remove removes member id from the cluster.
func Remove(ctx context.Context, client *http.Client, endpoint string, id uint64) error {
	in := struct {
		ID string `json:"ID"`
	}{strconv.FormatUint(id, 10)}
	return call(ctx, client, endpoint, "/v3/cluster/member/remove", in, nil)
}

// Add adds a member with peerURL, which is to start with --initial-cluster-state existing,
// and returns it.
func Add(ctx context.Context, client *http.Client, endpoint, peerURL string) (Member, error) {
	in := struct {
		PeerURLs []string `json:"peerURLs"`
	}{[]string{peerURL}}
	var out struct {
		Member member `json:"member"`
	}
	if err := call(ctx, client, endpoint, "/v3/cluster/member/add", in, &out); err != nil {
		return Member{}, err
	}
	ms, err := convert(endpoint, []member{out.Member})
	if err != nil {
		return Member{}, err
	}
	return ms[0], nil
}

func convert(endpoint string, in []member) ([]Member, error) {
	var out []Member
	for _, m := range in {
		id, err := strconv.ParseUint(m.ID, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("etcd %s: member %q has id %q: %w", endpoint, m.Name, m.ID, err)
		}
		out = append(out, Member{ID: id, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs})
	}
	return out, nil
}

// call POSTs in as JSON to the gateway's path and decodes the answer into out (unless nil).
// An error answer is {"error": "...", "message": "...", "code": N}.
func call(ctx context.Context, client *http.Client, endpoint, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("etcd %s: POST %s: %w", endpoint, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && (e.Message != "" || e.Error != "") {
			msg = cmp.Or(e.Message, e.Error)
		}
		return fmt.Errorf("etcd %s: POST %s: %s: %s", endpoint, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("etcd %s: POST %s: decoding the answer: %w", endpoint, path, err)
		}
	}
	return nil
}
