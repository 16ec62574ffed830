package servertest

import (
	"errors"
	"testing"
)

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Errorf("ports %v: %d repeats or is not a port", ports, p)
		}
		seen[p] = true
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	if got := Tail("a\nb\nc\nd\n", 2); got != "c\nd" {
		t.Errorf("Tail = %q, want the last two lines", got)
	}
	if got := Tail("a\n", 5); got != "a" {
		t.Errorf("Tail of a short text = %q", got)
	}
}

func TestRequireSkipsOrFailsByCI(t *testing.T) {
	t.Setenv("CI", "")
	t.Run("missing, not CI", func(t *testing.T) {
		Require(t, "zk", errors.New("not installed"))
		t.Error("Require did not skip")
	})
	reached := false
	t.Run("installed", func(t *testing.T) {
		Require(t, "zk", nil)
		reached = true
	})
	if !reached {
		t.Error("Require did not let an installed server's test go on")
	}
}
