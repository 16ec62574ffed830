package ironic

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base := 500 * time.Millisecond
	for attempt, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, maxRetryDelay, maxRetryDelay, maxRetryDelay} {
		for range 50 {
			if d := backoff(base, attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%v, %d) = %v, want between %v and %v", base, attempt, d, want/2, want)
			}
		}
	}
	if d := backoff(base, 1000); d > maxRetryDelay {
		t.Errorf("backoff after 1000 attempts: %v, want at most %v", d, maxRetryDelay)
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Config
		want    Config
		wantErr bool
	}{
		{name: "zero", in: Config{},
			want: Config{Microversion: "1.59", PollInterval: 2 * time.Second, Timeout: time.Hour, Retries: 6, RetryBase: 500 * time.Millisecond}},
		{name: "bounded", in: Config{Microversion: "1.82", PollInterval: time.Nanosecond, Retries: -1, RetryBase: time.Hour},
			want: Config{Microversion: "1.82", PollInterval: 10 * time.Millisecond, Timeout: time.Hour, Retries: 0, RetryBase: maxRetryDelay}},
		{name: "slow poll", in: Config{PollInterval: time.Hour},
			want: Config{Microversion: "1.59", PollInterval: time.Minute, Timeout: time.Hour, Retries: 6, RetryBase: 500 * time.Millisecond}},
		{name: "old microversion", in: Config{Microversion: "1.35"}, wantErr: true},
		{name: "not a microversion", in: Config{Microversion: "latest"}, wantErr: true},
		{name: "1.100 is newer than 1.59", in: Config{Microversion: "1.100"},
			want: Config{Microversion: "1.100", PollInterval: 2 * time.Second, Timeout: time.Hour, Retries: 6, RetryBase: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults: got error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got.HTTPClient = nil
			if got != tt.want {
				t.Errorf("withDefaults:\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestIronicMessage(t *testing.T) {
	tests := map[string]string{
		`{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node x could not be found.\", \"debuginfo\": null}"}`: "Node x could not be found.",
		`{"error_message": {"faultstring": "old style"}}`:                                                                        "old style",
		`<html>502 Bad Gateway</html>`: "<html>502 Bad Gateway</html>",
	}
	for body, want := range tests {
		if got := ironicMessage([]byte(body)); got != want {
			t.Errorf("ironicMessage(%s): got %q, want %q", body, got, want)
		}
	}
}
