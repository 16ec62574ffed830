package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/health"
)

func TestHTTP(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ping":
			fmt.Fprintln(w, "pong")
		case "/crlf":
			fmt.Fprint(w, "pong\r\n")
		case "/pang":
			fmt.Fprint(w, "pang")
		case "/down":
			http.Error(w, "no leader", http.StatusServiceUnavailable)
		case "/created":
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer s.Close()
	down := "http://" + closedAddr(t)
	tests := []struct {
		name   string
		url    string
		status int
		body   string
		want   string // the error; empty for none
	}{
		{"pass", s.URL + "/ping", 200, "^pong$", ""},
		{"default status", s.URL + "/ping", 0, "", ""},
		{"crlf", s.URL + "/crlf", 200, "^pong$", ""},
		{"other status", s.URL + "/created", 201, "", ""},
		{"status mismatch", s.URL + "/down", 200, "", `GET ` + s.URL + `/down: got status 503, want 200: "no leader"`},
		{"status mismatch, default", s.URL + "/created", 0, "", `GET ` + s.URL + `/created: got status 201, want 200: ""`},
		{"body mismatch", s.URL + "/pang", 200, "^pong$", `GET ` + s.URL + `/pang: body "pang" does not match ^pong$`},
		{"refused", down + "/ping", 200, "", `Get "` + down + `/ping": dial tcp `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *regexp.Regexp
			if tt.body != "" {
				body = regexp.MustCompile(tt.body)
			}
			err := health.HTTP(context.Background(), nil, tt.url, tt.status, body)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestEtcdAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string // the error after GET http://…/health; empty for none
	}{
		{"etcd 3.4", 200, `{"health":"true"}`, ""},
		{"etcd 3.5", 200, `{"health":"true","reason":""}`, ""},
		{"unhealthy", 503, `{"health":"false","reason":"RAFT NO LEADER"}`,
			`: got status 503, want 200: "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}"`},
		{"false with 200", 200, `{"health":"false"}`, `: health is "false", want "true": "{\"health\":\"false\"}"`},
		{"not etcd", 200, `OK`, `: not an etcd health answer: "OK"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/health" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer s.Close()
			err := health.Etcd(context.Background(), s.Client(), s.Listener.Addr().String())
			want := ""
			if tt.want != "" {
				want = "GET " + s.URL + "/health" + tt.want
			}
			if got := fmt.Sprint(err); err != nil && got != want || err == nil && want != "" {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	if err := health.TCP(context.Background(), listen(t)); err != nil {
		t.Errorf("listening: got %v, want no error", err)
	}
	if err := health.TCP(context.Background(), closedAddr(t)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed: got %v, want connection refused", err)
	}
}
