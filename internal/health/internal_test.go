package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestField(t *testing.T) {
	srvr := "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nZxid: 0x0\nMode: follower\nNode count: 5\n"
	mntr := "zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\nzk_synced_non_voting_followers\t0\n"
	tests := []struct {
		answer, key, want string
		ok                bool
	}{
		{srvr, "Mode:", "follower", true},
		{srvr, "Zxid:", "0x0", true},
		{mntr, "zk_server_state", "leader", true},
		{mntr, "zk_synced_followers", "2", true},
		{mntr, "zk_synced", "", false}, // a prefix of a key is no key
		{srvr, "zk_server_state", "", false},
	}
	for _, tt := range tests {
		got, ok := field(tt.answer, tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("field(…, %q) = %q, %v, want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		answer, want, err string
	}{
		{"Mode: leader\n", "leader", ""},
		{"Mode: standalone\n", "standalone", ""},
		{"Mode: observer\n", "observer", ""},
		{"Mode: read-only\n", "", "not serving (read-only: no quorum)"},
		{"Zxid: 0x0\n", "", `srvr answered "Zxid: 0x0", without Mode:`},
	}
	for _, tt := range tests {
		got, err := parseMode("srvr", tt.answer, "Mode:")
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("parseMode(%q) = %q, %v, want %q, %s", tt.answer, got, err, tt.want, tt.err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:        "30s",
		2 * time.Minute:         "2m",
		90 * time.Second:        "1m30s",
		time.Hour:               "1h",
		time.Hour + time.Second: "1h0m1s",
		500 * time.Millisecond:  "500ms",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// hung accepts connections and never answers, like a server whose JVM is stuck.
func hung(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestHungServer(t *testing.T) {
	addr := hung(t)

	t.Run("four-letter word", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := ZooKeeperMode(ctx, addr)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "srvr: ") {
			t.Errorf("got %v, want srvr: context deadline exceeded", err)
		}
	})

	t.Run("write and read", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := zkWriteRead(ctx, []string{addr})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context deadline exceeded", err)
		}
		// The client finishes closing in the background, without a server's help.
		wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		for zkGoroutines() > 0 {
			if wait.Err() != nil {
				t.Fatalf("the ZooKeeper client's goroutines are still running")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// zkGoroutines counts the goroutines running the ZooKeeper client's code.
func zkGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/go-zookeeper/zk.") {
			n++
		}
	}
	return n
}

// fourLetterServer answers each four-letter word with answers[word], or as ZooKeeper answers a
// word its whitelist leaves out.
func fourLetterServer(t *testing.T, answers map[string]string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			word := make([]byte, 4)
			if _, err := io.ReadFull(c, word); err == nil {
				answer, ok := answers[string(word)]
				if !ok {
					answer = string(word) + " is not executed because it is not in the whitelist.\n"
				}
				io.WriteString(c, answer)
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestWhitelist asks servers that allow only some four-letter words.
func TestWhitelist(t *testing.T) {
	ctx := context.Background()
	mntrOnly := func(state string) string {
		return fourLetterServer(t, map[string]string{"mntr": "zk_version\t3.8.0\nzk_server_state\t" + state + "\n"})
	}
	srvrOnly := func(mode string) string {
		return fourLetterServer(t, map[string]string{"srvr": "Zookeeper version: 3.8.0\nMode: " + mode + "\n"})
	}
	tests := []struct {
		name    string
		members []Member
		want    string
	}{
		{"mntr only", []Member{{"able", mntrOnly("leader")}, {"theta", mntrOnly("follower")}}, ""},
		{"srvr only: no synced followers to count", []Member{{"able", srvrOnly("leader")}, {"theta", srvrOnly("follower")}}, ""},
		{"follower not synced", []Member{
			{"able", fourLetterServer(t, map[string]string{"srvr": "Mode: leader\n", "mntr": "zk_server_state\tleader\nzk_synced_followers\t0\n"})},
			{"theta", srvrOnly("follower")},
		}, "member able (ADDR) leads 0 synced followers, want 1"},
		{"neither", []Member{{"able", fourLetterServer(t, nil)}}, "member able (ADDR): mntr: not in 4lw.commands.whitelist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ZooKeeper(ctx, tt.members, 1, false)
			want := strings.ReplaceAll(tt.want, "ADDR", tt.members[0].Addr)
			if got := fmt.Sprint(err); err != nil && got != want || err == nil && want != "" {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
}
