package etcdtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	s := Start(t)
	client := &http.Client{Timeout: 5 * time.Second}
	health := func() (string, error) {
		resp, err := client.Get(s.URL() + "/health")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	body, err := health()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"health":"true"`) {
		t.Errorf("GET /health: got %s, want health true", body)
	}
	if !strings.HasPrefix(s.ClientAddr(), "127.0.0.1:") {
		t.Errorf("ClientAddr() = %q, want 127.0.0.1:PORT", s.ClientAddr())
	}

	// A key written before a restart is there after it: Start reuses the data.
	put(t, client, s.URL(), "a2V5", "dmFsdWU=") // key, value
	s.Stop()
	if _, err := health(); err == nil {
		t.Errorf("GET /health answers while the server is stopped")
	}
	s.Stop() // stopping a stopped server does nothing
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Errorf("starting a running server: no error")
	}
	if got := rangeKey(t, client, s.URL(), "a2V5"); !strings.Contains(got, `"value":"dmFsdWU="`) {
		t.Errorf("after a restart: range got %s, want the value written before", got)
	}
}

// put and rangeKey use etcd 3.4's JSON gateway (/v3/kv/…), base64 keys and values.
func put(t *testing.T, client *http.Client, url, key, value string) {
	t.Helper()
	resp, err := client.Post(url+"/v3/kv/put", "application/json",
		strings.NewReader(`{"key":"`+key+`","value":"`+value+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("put: got status %d: %s", resp.StatusCode, body)
	}
}

func rangeKey(t *testing.T, client *http.Client, url, key string) string {
	t.Helper()
	resp, err := client.Post(url+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
