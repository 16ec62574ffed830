package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
)

// Folders are the top-level folders of a fleet repository, in the order they are loaded.
func Folders() []string { return []string{"inventory", "clusters", "images", "specs"} }

// ErrNotFleet is returned when a file system has none of the fleet folders.
var ErrNotFleet = errors.New("no fleet repository here: none of inventory/, clusters/, images/, specs/ exists")

// Loader loads fleet repositories. It keeps the decoded form of every YAML file it has read,
// keyed by path and content, so loading two snapshots that share most files (the base and
// head of a pull request) decodes the shared files once. The cache lives as long as the Loader
// and is never pruned: a long-running server uses one Loader per job, not one per process.
// A Loader is safe for concurrent use.
type Loader struct {
	// Workers bounds how many files are read and decoded at once; zero means GOMAXPROCS.
	Workers int

	mu    sync.Mutex
	cache map[cacheKey]*decoded
}

type cacheKey struct {
	path   string
	digest [32]byte
}

// decoded is the result of decoding one file; it is never changed after it is made.
type decoded struct {
	inventory   inventoryFile
	clusters    clustersFile
	image       *imageFile
	dockerfile  *Dockerfile
	imageSpec   *ImageSpec
	clusterSpec *ClusterSpec
	findings    []finding.Finding
	secrets     []int
}

// Load loads a repository with a fresh Loader.
func Load(ctx context.Context, fsys fs.FS) (*Repo, []finding.Finding, error) {
	return (&Loader{}).Load(ctx, fsys)
}

// fileKind is how a file is decoded.
type fileKind int

const (
	kindOther fileKind = iota
	kindInventory
	kindClusters
	kindImageDefinition
	kindDockerfile
	kindImageSpec
	kindClusterSpec
)

type job struct {
	path string
	kind fileKind
	link bool
	file File
	out  *decoded
}

// Load reads every file under the fleet folders of fsys. Problems with the files' content are
// returned as findings; the error is for a file system that cannot be read, and for one with
// none of the fleet folders (ErrNotFleet). The file system Empty() is an empty fleet.
func (l *Loader) Load(ctx context.Context, fsys fs.FS) (*Repo, []finding.Finding, error) {
	jobs, found, err := list(fsys)
	if err != nil {
		return nil, nil, err
	}
	if _, empty := fsys.(emptyFS); !found && !empty {
		return nil, nil, ErrNotFleet
	}
	if err := l.run(ctx, fsys, jobs); err != nil {
		return nil, nil, err
	}
	repo, findings := assemble(jobs)
	return repo, findings, nil
}

// Empty returns a file system with nothing in it: the base of a plan that builds a fleet from
// scratch.
func Empty() fs.FS { return emptyFS{} }

type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// list walks the fleet folders and decides how each file is decoded.
func list(fsys fs.FS) ([]*job, bool, error) {
	var jobs []*job
	found := false
	for _, top := range Folders() {
		info, err := fs.Stat(fsys, top)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading %s/: %w", top, err)
		}
		if !info.IsDir() {
			return nil, false, fmt.Errorf("%s is a file; it must be a folder", top)
		}
		found = true
		err = fs.WalkDir(fsys, top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			jobs = append(jobs, &job{path: p, kind: kindOf(p), link: d.Type()&fs.ModeSymlink != 0})
			return nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	slices.SortFunc(jobs, func(a, b *job) int { return strings.Compare(a.path, b.path) })
	return jobs, found, nil
}

func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

func kindOf(p string) fileKind {
	parts := strings.Split(p, "/")
	switch {
	case parts[0] == "inventory" && isYAML(p):
		return kindInventory
	case parts[0] == "clusters" && isYAML(p):
		return kindClusters
	case parts[0] == "images" && len(parts) == 3 && (parts[2] == "image.yaml" || parts[2] == "image.yml"):
		return kindImageDefinition
	case parts[0] == "images" && len(parts) == 3 && parts[2] == "Dockerfile":
		return kindDockerfile
	case parts[0] == "specs" && len(parts) > 2 && parts[1] == "images" && isYAML(p):
		return kindImageSpec
	case parts[0] == "specs" && len(parts) > 2 && parts[1] == "clusters" && isYAML(p):
		return kindClusterSpec
	}
	return kindOther
}

// run reads, hashes and decodes the files, several at a time.
func (l *Loader) run(ctx context.Context, fsys fs.FS, jobs []*job) error {
	workers := l.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	next := make(chan *job)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if err := l.do(fsys, j); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	return err
}

func (l *Loader) do(fsys fs.FS, j *job) error {
	var data []byte
	var err error
	if j.link {
		if rl, ok := fsys.(fs.ReadLinkFS); ok {
			var target string
			target, err = rl.ReadLink(j.path)
			data = []byte(target)
			j.file.Mode = fs.ModeSymlink | 0o777
		} else {
			data, err = fs.ReadFile(fsys, j.path)
		}
	} else {
		data, err = fs.ReadFile(fsys, j.path)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", j.path, err)
	}
	if j.file.Mode == 0 {
		j.file.Mode = 0o644
		if info, err := fs.Stat(fsys, j.path); err == nil && info.Mode()&0o111 != 0 {
			j.file.Mode = 0o755
		}
	}
	j.file.Path = j.path
	j.file.Digest = sha256.Sum256(data)
	if j.kind == kindOther || j.link {
		return nil
	}
	key := cacheKey{j.path, j.file.Digest}
	l.mu.Lock()
	cached := l.cache[key]
	l.mu.Unlock()
	if cached != nil {
		j.out = cached
		return nil
	}
	j.out = decodeFile(j.path, j.kind, data)
	l.mu.Lock()
	if l.cache == nil {
		l.cache = map[cacheKey]*decoded{}
	}
	l.cache[key] = j.out
	l.mu.Unlock()
	return nil
}

// decodeFile parses one file. It never fails: what is wrong with the file becomes findings.
func decodeFile(p string, kind fileKind, data []byte) *decoded {
	out := &decoded{}
	if kind == kindDockerfile {
		out.dockerfile = dockerfile(p, data)
		return out
	}
	// A file without aliases yields fewer values than it has bytes.
	d := &decoder{file: p, budget: len(data) + 10_000}
	root, ok := parseYAML(d, data)
	if ok && root != nil {
		switch kind {
		case kindInventory:
			out.inventory = d.inventory(root)
		case kindClusters:
			out.clusters = d.clustersFile(root)
		case kindImageDefinition:
			img := d.imageDefinition(root)
			out.image = &img
		case kindImageSpec:
			out.imageSpec = d.imageSpec(root)
		case kindClusterSpec:
			out.clusterSpec = d.clusterSpec(root)
		}
	}
	if kind == kindImageDefinition && out.image == nil {
		out.image = &imageFile{}
	}
	out.findings = d.findings
	out.secrets = d.secrets
	return out
}

// parseYAML parses a single-document YAML file. A syntax error becomes a finding at the line
// the parser names; the root is nil for an empty file.
func parseYAML(d *decoder, data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.syntaxError(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, RuleYAMLSyntax, "a second YAML document (---) in one file is not supported")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], true
	}
	return nil, true
}

func (d *decoder) syntaxError(err error) {
	// yaml.v3 says "yaml: line 12: did not find expected key".
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, found := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); err == nil && found {
			line, msg = n, text
			if parserError(text) {
				line++
			}
		}
	}
	d.findings = append(d.findings, finding.Finding{
		Pos:      Pos{File: d.file, Line: max(line, 1)},
		Severity: finding.Error,
		Rule:     RuleYAMLSyntax,
		Message:  msg,
	})
}

// parserError reports whether a yaml.v3 message comes from its parser, which (unlike its
// scanner) reports 0-based lines (go-yaml/yaml#1066).
func parserError(msg string) bool {
	for _, prefix := range []string{"did not find expected", "found duplicate %YAML directive", "found duplicate %TAG directive",
		"found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// assemble puts decoded files together into a Repo, in path order.
func assemble(jobs []*job) (*Repo, []finding.Finding) {
	r := &Repo{
		SecretLines: map[string][]int{},
		servers:     map[string]*Server{},
		profiles:    map[string]*HardwareProfile{},
		variants:    map[string]*Variant{},
		images:      map[string]*Image{},
	}
	var findings []finding.Finding
	for _, j := range jobs {
		r.Files = append(r.Files, j.file)
		parts := strings.Split(j.path, "/")
		if parts[0] == "images" && len(parts) >= 3 {
			img := r.images[parts[1]]
			if img == nil {
				img = &Image{Name: parts[1], Pos: Pos{File: path.Join("images", parts[1])}}
				r.images[img.Name] = img
				r.Images = append(r.Images, img)
			}
			f := j.file
			f.Path = strings.Join(parts[2:], "/")
			img.Files = append(img.Files, f)
		}
		if j.out == nil {
			continue
		}
		o := j.out
		findings = append(findings, o.findings...)
		if len(o.secrets) > 0 {
			r.SecretLines[j.path] = o.secrets
		}
		r.Profiles = append(r.Profiles, o.inventory.profiles...)
		for _, rack := range o.inventory.racks {
			r.Racks = append(r.Racks, rack)
			r.Servers = append(r.Servers, rack.Servers...)
			r.Switches = append(r.Switches, rack.Switches...)
		}
		r.Variants = append(r.Variants, o.clusters.variants...)
		r.Clusters = append(r.Clusters, o.clusters.clusters...)
		if o.imageSpec != nil {
			r.ImageSpecs = append(r.ImageSpecs, o.imageSpec)
		}
		if o.clusterSpec != nil {
			r.ClusterSpecs = append(r.ClusterSpecs, o.clusterSpec)
		}
		if o.image != nil || o.dockerfile != nil {
			img := r.images[parts[1]]
			if o.dockerfile != nil {
				img.Dockerfile = o.dockerfile
			} else {
				img.Parent = o.image.parent
				img.Bootstrap = o.image.bootstrap
				img.BuildArgs = o.image.buildArgs
				img.Disk = o.image.disk
				img.Pos = Pos{File: j.path, Line: 1, Col: 1}
			}
		}
	}
	for _, s := range r.Servers {
		if _, dup := r.servers[s.Name.V]; !dup {
			r.servers[s.Name.V] = s
		}
	}
	for _, p := range r.Profiles {
		if _, dup := r.profiles[p.Name.V]; !dup {
			r.profiles[p.Name.V] = p
		}
	}
	for _, v := range r.Variants {
		if _, dup := r.variants[v.Name.V]; !dup {
			r.variants[v.Name.V] = v
		}
	}
	// Every image folder is also a variant of its own name, with its own arguments.
	for _, img := range r.Images {
		if _, ok := r.variants[img.Name]; !ok {
			r.variants[img.Name] = &Variant{Name: Value[string]{V: img.Name, Pos: img.Pos}, Image: Value[string]{V: img.Name, Pos: img.Pos}, Pos: img.Pos}
		}
	}
	finding.Sort(findings)
	return r, findings
}
