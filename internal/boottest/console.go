package boottest

import (
	"strings"
	"sync"
)

// console reads the serial output: it removes terminal escape sequences and
// carriage returns (firmware and systemd color and position their text),
// looks for the patterns across writes, and keeps the last lines.
type console struct {
	patterns []string
	found    chan string // gets the first pattern seen

	mu      sync.Mutex
	state   int             // escape sequence parser state
	window  string          // end of the text so far, to match patterns split across writes
	lines   []string        // last complete lines
	line    strings.Builder // the line being written
	matched bool
}

const keepLines = 200

// Escape sequence parser states.
const (
	text = iota
	escape
	csi // ESC [ parameters until a final byte
	osc // ESC ] text until BEL or ESC \
)

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var clean strings.Builder
	for _, b := range p {
		switch c.state {
		case escape:
			switch b {
			case '[':
				c.state = csi
			case ']':
				c.state = osc
			default:
				c.state = text // a two-byte sequence such as ESC c
			}
			continue
		case csi:
			if b >= 0x40 && b <= 0x7e {
				c.state = text
			}
			continue
		case osc:
			if b == 0x07 || b == '\\' {
				c.state = text
			}
			continue
		}
		switch b {
		case 0x1b:
			c.state = escape
		case '\r', 0:
		case '\n':
			c.lines = append(c.lines, c.line.String())
			if len(c.lines) > 2*keepLines {
				c.lines = append(c.lines[:0], c.lines[len(c.lines)-keepLines:]...)
			}
			c.line.Reset()
			clean.WriteByte(b)
		default:
			c.line.WriteByte(b)
			clean.WriteByte(b)
		}
	}
	if !c.matched {
		c.window += clean.String()
		for _, pat := range c.patterns {
			if strings.Contains(c.window, pat) {
				c.matched = true
				c.found <- pat
				break
			}
		}
		longest := 0
		for _, pat := range c.patterns {
			longest = max(longest, len(pat))
		}
		if len(c.window) > longest {
			c.window = c.window[len(c.window)-longest:]
		}
	}
	return len(p), nil
}

// tail is the last n lines, the unfinished one included.
func (c *console) tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines
	if c.line.Len() > 0 {
		lines = append(lines[:len(lines):len(lines)], c.line.String())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
