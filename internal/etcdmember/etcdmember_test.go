package etcdmember_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/etcdmember"
	"github.com/cluster-as-code/cluster-as-code/internal/etcdtest"
)

var client = &http.Client{Timeout: 5 * time.Second}

// post calls etcd's JSON gateway and returns the answer's body, failing t on a non-200.
func post(t *testing.T, url, path, body string) string {
	t.Helper()
	resp, err := client.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s%s: %s: %s", url, path, resp.Status, b)
	}
	return string(b)
}

func members(t *testing.T, endpoint string) []etcdmember.Member {
	t.Helper()
	ms, err := etcdmember.List(context.Background(), client, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func byName(ms []etcdmember.Member, name string) (etcdmember.Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return etcdmember.Member{}, false
}

func byPeer(ms []etcdmember.Member, peer string) (etcdmember.Member, bool) {
	for _, m := range ms {
		for _, p := range m.PeerURLs {
			if p == peer {
				return m, true
			}
		}
	}
	return etcdmember.Member{}, false
}

// Base64 of "key" and "value": the gateway takes bytes as base64.
const key, value = "a2V5", "dmFsdWU="

// TestReplaceRejoinsWipedMember re-images member 2 of 3: as "new" it cannot come back; after
// Replace it starts as "existing" and serves the data written before.
func TestReplaceRejoinsWipedMember(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	m1, m2, m3 := c.Members[0], c.Members[1], c.Members[2]
	others := []string{m1.URL(), m3.URL()}
	ctx := context.Background()
	post(t, m1.URL(), "/v3/kv/put", `{"key":"`+key+`","value":"`+value+`"}`)
	before, _ := byName(members(t, m1.URL()), m2.Name())

	// Re-imaging without Replace: the wiped member does not become healthy as "new".
	m2.Stop()
	if err := m2.Wipe(); err != nil {
		t.Fatal(err)
	}
	err := m2.StartState("new", 8*time.Second)
	if err == nil {
		t.Fatal("a wiped member started with --initial-cluster-state new became healthy; the replacement would not be needed")
	}
	t.Logf("as expected, a wiped member does not rejoin as new: %v", err)
	m2.Stop()
	if err := m2.Wipe(); err != nil {
		t.Fatal(err)
	}

	if err := etcdmember.Replace(ctx, client, others, m2.Name(), m2.PeerURL()); err != nil {
		t.Fatal(err)
	}
	added, ok := byPeer(members(t, m1.URL()), m2.PeerURL())
	if !ok || added.Name != "" || added.ID == before.ID {
		t.Fatalf("after Replace: member with %s is %+v (found %v), want a new unstarted member (old id %d)", m2.PeerURL(), added, ok, before.ID)
	}
	// Again, as after a crash once the member was added: nothing changes.
	if err := etcdmember.Replace(ctx, client, others, m2.Name(), m2.PeerURL()); err != nil {
		t.Fatalf("second Replace: %v", err)
	}
	ms := members(t, m1.URL())
	if again, _ := byPeer(ms, m2.PeerURL()); len(ms) != 3 || again.ID != added.ID {
		t.Fatalf("second Replace changed the members: got %+v, want 3 with %d kept", ms, added.ID)
	}

	if err := m2.StartExisting(); err != nil {
		t.Fatal(err)
	}
	assertRejoined(t, c)

	// Cut off between remove and add: the member is gone; Replace adds it back.
	m2.Stop()
	if err := m2.Wipe(); err != nil {
		t.Fatal(err)
	}
	cur, _ := byName(members(t, m1.URL()), m2.Name())
	// etcd refuses membership changes for 5s after a member (re)connects.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		err := etcdmember.Remove(ctx, client, m1.URL(), cur.ID)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "unhealthy cluster") || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if err := etcdmember.Replace(ctx, client, others, m2.Name(), m2.PeerURL()); err != nil {
		t.Fatalf("Replace after an interrupted one: %v", err)
	}
	if err := m2.StartExisting(); err != nil {
		t.Fatal(err)
	}
	assertRejoined(t, c)
}

// assertRejoined checks the cluster has its 3 members started and healthy, and that member 2
// serves the key written at the start.
func assertRejoined(t *testing.T, c *etcdtest.Cluster) {
	t.Helper()
	ms := members(t, c.Members[0].URL())
	if len(ms) != 3 {
		t.Errorf("got %d members, want 3: %+v", len(ms), ms)
	}
	for _, s := range c.Members {
		if _, ok := byName(ms, s.Name()); !ok {
			t.Errorf("member %s is not listed as started: %+v", s.Name(), ms)
		}
		if err := etcdmember.Health(context.Background(), client, s.URL()); err != nil {
			t.Error(err)
		}
	}
	if got := post(t, c.Members[1].URL(), "/v3/kv/range", `{"key":"`+key+`"}`); !strings.Contains(got, `"value":"`+value+`"`) {
		t.Errorf("range through %s: got %s, want the value written before", c.Members[1].Name(), got)
	}
}

// TestReplaceRefusesWithoutQuorum: with 2 of 3 members down, Replace changes nothing.
func TestReplaceRefusesWithoutQuorum(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	m1, m2, m3 := c.Members[0], c.Members[1], c.Members[2]
	before := members(t, m1.URL())
	m2.Stop()
	m3.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := etcdmember.Replace(ctx, client, []string{m1.URL(), m3.URL()}, m2.Name(), m2.PeerURL())
	if !errors.Is(err, etcdmember.ErrQuorum) {
		t.Fatalf("Replace with 2 of 3 members down: got %v, want ErrQuorum", err)
	}
	if !strings.Contains(err.Error(), m3.URL()) {
		t.Errorf("error %q does not name the endpoint that did not answer (%s)", err, m3.URL())
	}
	if err := m3.Start(); err != nil {
		t.Fatal(err)
	}
	after := members(t, m1.URL())
	if len(after) != len(before) {
		t.Fatalf("members changed: before %+v, after %+v", before, after)
	}
	for _, m := range before {
		if a, ok := byName(after, m.Name); !ok || a.ID != m.ID {
			t.Errorf("member %s: before %+v, after %+v", m.Name, m, a)
		}
	}
}

// TestErrorsNameEndpointAndMessage: etcd's error answer is passed on with the endpoint.
func TestErrorsNameEndpointAndMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			io.WriteString(w, `{"health":"true"}`)
		case "/v3/cluster/member/list":
			io.WriteString(w, `{"members":[{"ID":"18446744073709551615","name":"b","peerURLs":["http://10.0.0.2:2380"]},{"ID":"2","name":"a","peerURLs":["http://10.0.0.1:2380"]}]}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"etcdserver: unhealthy cluster","message":"etcdserver: unhealthy cluster","code":14}`)
		}
	}))
	defer srv.Close()
	ms, err := etcdmember.List(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].ID != 18446744073709551615 {
		t.Errorf("id: got %d, want the largest uint64", ms[0].ID)
	}
	err = etcdmember.Replace(context.Background(), srv.Client(), []string{srv.URL}, "a", "http://10.0.0.1:2380")
	if err == nil || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "etcdserver: unhealthy cluster") ||
		!strings.Contains(err.Error(), "/v3/cluster/member/remove") {
		t.Errorf("got %v, want the endpoint, the call and etcd's message", err)
	}
}
