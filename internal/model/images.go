package model

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// imageFile is what images/NAME/image.yaml holds.
type imageFile struct {
	parent    Value[string]
	bootstrap *Bootstrap
	buildArgs []Arg
	disk      Disk
}

func (d *decoder) imageDefinition(root *yaml.Node) imageFile {
	var out imageFile
	const what = "image definition"
	for k, v := range d.pairs(root, what) {
		switch k.Value {
		case "parent":
			out.parent = d.str(v, "parent")
		case "bootstrap":
			out.bootstrap = d.bootstrap(v)
		case "build_args":
			out.buildArgs = d.args(v, "build_args")
		case "disk":
			out.disk = d.disk(v)
		default:
			d.unknown(k, what, "parent", "bootstrap", "build_args", "disk")
		}
	}
	return out
}

func (d *decoder) bootstrap(n *yaml.Node) *Bootstrap {
	b := &Bootstrap{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "bootstrap") {
		switch k.Value {
		case "suite":
			b.Suite = d.str(v, "suite")
		case "variant":
			b.Variant = d.str(v, "variant")
		case "include":
			b.Include = d.strs(v, "include")
		default:
			d.unknown(k, "bootstrap", "suite", "variant", "include")
		}
	}
	d.need(n, "bootstrap", "suite", b.Suite.Set())
	return b
}

func (d *decoder) disk(n *yaml.Node) Disk {
	out := Disk{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "disk") {
		switch k.Value {
		case "size":
			out.Size = d.size(v, "disk size")
		case "partitions":
			for item := range d.items(v, "partitions") {
				out.Partitions = append(out.Partitions, d.partition(item))
			}
		default:
			d.unknown(k, "disk", "size", "partitions")
		}
	}
	d.need(n, "disk", "size", out.Size.Set())
	return out
}

func (d *decoder) partition(n *yaml.Node) Partition {
	p := Partition{Pos: d.pos(n)}
	for k, v := range d.pairs(n, "partition") {
		switch k.Value {
		case "label":
			p.Label = d.str(v, "label")
		case "mount":
			p.Mount = d.str(v, "mount")
		case "size":
			p.Size = d.size(v, "partition size")
		case "filesystem":
			p.Filesystem = d.str(v, "filesystem")
		default:
			d.unknown(k, "partition", "label", "mount", "size", "filesystem")
		}
	}
	d.need(n, "partition", "label", p.Label.Set())
	d.need(n, "partition", "mount", p.Mount.Set())
	d.need(n, "partition", "size", p.Size.Set())
	d.need(n, "partition", "filesystem", p.Filesystem.Set())
	return p
}

// size reads a byte count with a binary unit: MiB, GiB or TiB.
func (d *decoder) size(n *yaml.Node, what string) Size {
	s := Size{Value: d.str(n, what)}
	if s.V == "" {
		return s
	}
	b, err := ParseSize(s.V)
	if err != nil {
		d.errorf(n, RuleBadValue, "%s: %v", what, err)
	}
	s.Bytes = b
	return s
}

// ParseSize parses a positive size such as "512MiB", "8GiB" or "1TiB".
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"MiB", 20}, {"GiB", 30}, {"TiB", 40}}
	for _, u := range units {
		num, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || v <= 0 || v > 1<<(62-u.shift) {
			break
		}
		return v << u.shift, nil
	}
	return 0, fmt.Errorf("%q is not a size: write a whole number with MiB, GiB or TiB, such as 8GiB", s)
}

// pins finds name=version arguments of apt-get install (or apt install) in a RUN command.
func pins(command string, pos Pos) []Pin {
	var out []Pin
	for part := range strings.SplitSeq(command, "&&") {
		fields := strings.Fields(part)
		install := false
		for i, f := range fields {
			if f == "install" && i > 0 && (fields[i-1] == "apt-get" || fields[i-1] == "apt" || strings.HasPrefix(fields[i-1], "-")) {
				install = true
				continue
			}
			if !install || strings.HasPrefix(f, "-") || strings.ContainsAny(f, "$'\"") {
				continue
			}
			name, version, ok := strings.Cut(f, "=")
			if ok && isPackageName(name) && version != "" {
				out = append(out, Pin{Package: name, Version: version, Pos: pos})
			}
		}
	}
	return out
}

// isPackageName reports whether s can be a Debian package name.
func isPackageName(s string) bool {
	if len(s) < 2 || !('a' <= s[0] && s[0] <= 'z' || '0' <= s[0] && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// dockerfile reads the FROM and ARG instructions of a Dockerfile, joining continued lines.
func dockerfile(path string, data []byte) *Dockerfile {
	df := &Dockerfile{Path: path}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var (
		line      int
		start     int
		logical   strings.Builder
		continued bool
	)
	flush := func() {
		text := strings.TrimSpace(logical.String())
		logical.Reset()
		if text == "" {
			return
		}
		instr, rest, _ := strings.Cut(text, " ")
		pos := Pos{File: path, Line: start, Col: 1}
		switch strings.ToUpper(instr) {
		case "FROM":
			df.From = append(df.From, Value[string]{V: strings.TrimSpace(rest), Pos: pos})
		case "ARG":
			name, _, _ := strings.Cut(strings.TrimSpace(rest), "=")
			df.Args = append(df.Args, Value[string]{V: name, Pos: pos})
		case "RUN":
			df.Pins = append(df.Pins, pins(rest, pos)...)
		}
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		if strings.HasPrefix(trimmed, "#") || (!continued && trimmed == "") {
			continue
		}
		if !continued {
			start = line
		}
		body, cont := strings.CutSuffix(strings.TrimRight(text, " \t"), "\\")
		logical.WriteString(body)
		logical.WriteByte(' ')
		continued = cont
		if !cont {
			flush()
		}
	}
	flush()
	return df
}
