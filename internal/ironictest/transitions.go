package ironictest

import (
	"fmt"
	"os"
	"regexp"
	"time"
)

// Transition is one provision state change as Ironic's conductor logged it: what happened to
// the machine, whatever its clients saw of it.
type Transition struct {
	At   time.Time
	Node string // the node's UUID
	To   string // the state it moved to: "deploying", "active", …
}

// transitionLine is the conductor's log line of a provision state change.
var transitionLine = regexp.MustCompile(`(?m)^(\S+ \S+) \d+ INFO \S+ \[[^\]]*\] Node (\S+) moved to provision state "([^"]+)"`)

// Transitions reads every provision state change from the server's log, in order.
func (s *Server) Transitions() ([]Transition, error) {
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		return nil, fmt.Errorf("reading Ironic's log: %w", err)
	}
	var out []Transition
	for _, m := range transitionLine.FindAllStringSubmatch(string(data), -1) {
		at, err := time.ParseInLocation("2006-01-02 15:04:05.000", m[1], time.Local)
		if err != nil {
			return nil, fmt.Errorf("Ironic's log: a time %q: %w", m[1], err)
		}
		out = append(out, Transition{At: at, Node: m[2], To: m[3]})
	}
	return out, nil
}
