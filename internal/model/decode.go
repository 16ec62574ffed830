package model

import (
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
)

// Rule ids of the findings the loader itself reports.
const (
	RuleYAMLSyntax   = "yaml-syntax"
	RuleUnknownKey   = "unknown-key"
	RuleDuplicateKey = "duplicate-key"
	RuleMissingField = "missing-field"
	RuleBadValue     = "bad-value"
)

// decoder turns the yaml.Node tree of one file into model values, collecting findings instead
// of stopping at the first problem.
type decoder struct {
	file     string
	findings []finding.Finding
	secrets  []int
	// budget bounds how many values the file may yield, so that aliases nested in aliases
	// ("billion laughs") cannot make a small file decode into millions of values.
	budget    int
	exhausted bool
}

// spend takes one value from the budget, reporting once when it runs out.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.budget--; d.budget >= 0 {
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		d.errorf(n, RuleBadValue, "this file's aliases expand into too many values; is an alias repeated inside what it stands for?")
	}
	return false
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) report(n *yaml.Node, sev finding.Severity, rule, format string, args ...any) {
	p := Pos{File: d.file}
	if n != nil {
		p = d.pos(n)
	}
	d.findings = append(d.findings, finding.Finding{Pos: p, Severity: sev, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n *yaml.Node, rule, format string, args ...any) {
	d.report(n, finding.Error, rule, format, args...)
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// pairs yields the key and value nodes of a mapping, with `<<` merge keys expanded (keys
// written in the mapping win over merged ones) and duplicate keys reported. what names the
// mapping in messages ("server", "lan").
func (d *decoder) pairs(n *yaml.Node, what string) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		n = resolve(n)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, RuleBadValue, "%s must be a mapping, not %s", what, kindName(n))
			return
		}
		var merges []*yaml.Node
		var seen keySet
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			if !seen.add(k.Value) {
				d.errorf(k, RuleDuplicateKey, "key %q appears twice in %s", k.Value, what)
				continue
			}
			if !d.spend(k) || !yield(k, v) {
				return
			}
		}
		for _, m := range merges {
			m = resolve(m)
			sources := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				sources = m.Content
			}
			for _, src := range sources {
				src = resolve(src)
				if src.Kind != yaml.MappingNode {
					d.errorf(src, RuleBadValue, "a merge (<<) in %s must name a mapping, not %s", what, kindName(src))
					continue
				}
				for i := 0; i+1 < len(src.Content); i += 2 {
					k, v := src.Content[i], src.Content[i+1]
					if !seen.add(k.Value) {
						continue
					}
					if !d.spend(k) || !yield(k, v) {
						return
					}
				}
			}
		}
	}
}

// keySet is the set of keys seen in one mapping. Mappings in fleet files are small, so a
// list beats a map until it grows past a few dozen keys; that saves an allocation per server.
type keySet struct {
	small [16]string
	n     int
	big   map[string]bool
}

// add adds key and reports whether it was new.
func (s *keySet) add(key string) bool {
	if s.big != nil {
		if s.big[key] {
			return false
		}
		s.big[key] = true
		return true
	}
	for _, k := range s.small[:s.n] {
		if k == key {
			return false
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = key
		s.n++
		return true
	}
	s.big = make(map[string]bool, 2*len(s.small))
	for _, k := range s.small {
		s.big[k] = true
	}
	s.big[key] = true
	return true
}

// items yields the elements of a sequence.
func (d *decoder) items(n *yaml.Node, what string) iter.Seq[*yaml.Node] {
	return func(yield func(*yaml.Node) bool) {
		n = resolve(n)
		if n == nil || isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, RuleBadValue, "%s must be a list, not %s", what, kindName(n))
			return
		}
		for _, item := range n.Content {
			if !d.spend(item) || !yield(item) {
				return
			}
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// unknown reports a key that the mapping does not take, suggesting the closest known key.
func (d *decoder) unknown(k *yaml.Node, what string, known ...string) {
	msg := fmt.Sprintf("unknown key %q in %s", k.Value, what)
	if best := closest(k.Value, known); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	} else if len(known) > 0 {
		msg += fmt.Sprintf(" (it takes %s)", strings.Join(known, ", "))
	}
	d.errorf(k, RuleUnknownKey, "%s", msg)
}

// need reports a required key that is absent from the mapping at n.
func (d *decoder) need(n *yaml.Node, what, key string, present bool) {
	if !present {
		d.errorf(n, RuleMissingField, "%s is missing %q", what, key)
	}
}

// str reads a scalar as a string. Any scalar type is taken as written (so 2016-09-09 and 11
// are strings here), but mappings, lists and null are not.
func (d *decoder) str(n *yaml.Node, what string) Value[string] {
	r := resolve(n)
	if r.Kind != yaml.ScalarNode || isNull(r) {
		d.errorf(n, RuleBadValue, "%s must be a string, not %s", what, kindName(r))
		return Value[string]{Pos: d.pos(n)}
	}
	return Value[string]{V: r.Value, Pos: d.pos(n)}
}

// integer reads a scalar that must be a whole number.
func (d *decoder) integer(n *yaml.Node, what string) Value[int] {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.Tag == "!!int" {
		if v, err := strconv.Atoi(r.Value); err == nil {
			return Value[int]{V: v, Pos: d.pos(n)}
		}
	}
	d.errorf(n, RuleBadValue, "%s must be a whole number, not %s", what, kindName(r))
	return Value[int]{Pos: d.pos(n)}
}

// boolean reads true or false.
func (d *decoder) boolean(n *yaml.Node, what string) Value[bool] {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.Tag == "!!bool" {
		var b bool
		if err := r.Decode(&b); err == nil {
			return Value[bool]{V: b, Pos: d.pos(n)}
		}
	}
	d.errorf(n, RuleBadValue, "%s must be true or false, not %s", what, kindName(r))
	return Value[bool]{Pos: d.pos(n)}
}

// duration reads a Go duration such as "30s" or "5m".
func (d *decoder) duration(n *yaml.Node, what string) Value[time.Duration] {
	s := d.str(n, what)
	if s.V == "" {
		return Value[time.Duration]{Pos: s.Pos}
	}
	v, err := time.ParseDuration(s.V)
	if err != nil || v <= 0 {
		d.errorf(n, RuleBadValue, "%s must be a positive duration such as 30s or 5m, not %q", what, s.V)
	}
	return Value[time.Duration]{V: v, Pos: s.Pos}
}

// strs reads a list of strings.
func (d *decoder) strs(n *yaml.Node, what string) []Value[string] {
	var out []Value[string]
	for item := range d.items(n, what) {
		out = append(out, d.str(item, what+" entry"))
	}
	return out
}

// ints reads a list of whole numbers.
func (d *decoder) ints(n *yaml.Node, what string) []Value[int] {
	var out []Value[int]
	for item := range d.items(n, what) {
		out = append(out, d.integer(item, what+" entry"))
	}
	return out
}

// args reads a mapping of build arguments; values are strings as written.
func (d *decoder) args(n *yaml.Node, what string) []Arg {
	var out []Arg
	for k, v := range d.pairs(n, what) {
		r := resolve(v)
		val := Value[string]{Pos: d.pos(v)}
		if r.Kind == yaml.ScalarNode {
			val.V = r.Value
			if isNull(r) {
				val.V = ""
			}
		} else {
			d.errorf(v, RuleBadValue, "build argument %q must be a string, not %s", k.Value, kindName(r))
		}
		out = append(out, Arg{Key: Value[string]{V: k.Value, Pos: d.pos(k)}, Value: val})
	}
	return out
}

// secret reads a secret reference ({secret: REF}). A scalar is a literal secret: it is recorded
// as such (for validation) but its value is not kept.
func (d *decoder) secret(n *yaml.Node, what string) Secret {
	r := resolve(n)
	s := Secret{Pos: d.pos(n)}
	d.secrets = append(d.secrets, n.Line)
	if r.Kind == yaml.ScalarNode && !isNull(r) {
		s.Literal = true
		s.fingerprint = "literal:" + fingerprint(r.Value)
		return s
	}
	for k, v := range d.pairs(n, what) {
		switch k.Value {
		case "secret":
			s.Ref = d.str(v, what+" secret")
			if v.Line != n.Line {
				d.secrets = append(d.secrets, v.Line)
			}
		default:
			d.unknown(k, what, "secret")
		}
	}
	d.need(n, what, "secret", s.Ref.Set())
	s.fingerprint = "ref:" + s.Ref.V
	return s
}

// closest returns the known word nearest to s, if it is near enough to be a likely typo.
func closest(s string, known []string) string {
	best, bestDist := "", len(s)/3+1
	for _, k := range known {
		if d := editDistance(s, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
