package repofs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// FromGit reads revision rev of the git repository at repoDir (or the repository containing
// it) with the git command. Only paths under prefixes, such as "inventory" or "clusters", are
// loaded; none means everything. Submodules are left out.
//
// The error wraps ErrNotRepository if repoDir is not in a git repository, ErrUnknownRevision
// if rev names no commit, exec.ErrNotFound if git is not installed, ErrTooLarge beyond
// MaxBytes, and the context's error if ctx ends first.
func FromGit(ctx context.Context, repoDir, rev string, prefixes ...string) (*Snapshot, error) {
	return fromGit(ctx, MaxBytes, repoDir, rev, prefixes)
}

func fromGit(ctx context.Context, limit int64, repoDir, rev string, prefixList []string) (*Snapshot, error) {
	ps, err := parsePrefixes(prefixList)
	if err != nil {
		return nil, err
	}
	if rev == "" {
		return nil, fmt.Errorf("%w \"\" in %s: empty revision", ErrUnknownRevision, repoDir)
	}
	if _, err := os.Stat(repoDir); err != nil {
		return nil, fmt.Errorf("reading git repository: %w", err)
	}
	g := gitRunner{dir: repoDir}
	if _, err := g.output(ctx, "rev-parse", "--git-dir"); err != nil {
		if ge, ok := errors.AsType[*gitError](err); ok {
			return nil, fmt.Errorf("%s is %w%s", repoDir, ErrNotRepository, ge.detail())
		}
		return nil, err
	}
	out, err := g.output(ctx, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if ge, ok := errors.AsType[*gitError](err); ok {
			return nil, fmt.Errorf("%w %q in %s%s", ErrUnknownRevision, rev, repoDir, ge.detail())
		}
		return nil, err
	}
	commit := strings.TrimSpace(string(out))
	if !isHex(commit) {
		return nil, fmt.Errorf("resolving %q in %s: unexpected git rev-parse output %q", rev, repoDir, commit)
	}

	blobs, err := g.listTree(ctx, commit, ps)
	if err != nil {
		return nil, fmt.Errorf("listing %s (%s) in %s: %w", rev, commit, repoDir, err)
	}
	budget := limit
	oids := make([]string, 0, len(blobs))
	seen := make(map[string]bool, len(blobs))
	for _, b := range blobs {
		budget -= int64(len(b.path))
		if !seen[b.oid] {
			seen[b.oid] = true
			oids = append(oids, b.oid)
		}
	}
	if budget < 0 {
		return nil, fmt.Errorf("reading %s in %s: paths: %w (limit %d bytes)", rev, repoDir, ErrTooLarge, limit)
	}
	data, err := g.catBlobs(ctx, oids, budget, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %s (%s) in %s: %w", rev, commit, repoDir, err)
	}
	files := make(map[string]File, len(blobs))
	for _, b := range blobs {
		files[b.path] = File{Data: data[b.oid], Mode: b.mode}
	}
	s, err := build(files)
	if err != nil {
		return nil, fmt.Errorf("reading %s (%s) in %s: %w", rev, commit, repoDir, err)
	}
	s.Rev, s.Commit = rev, commit
	return s, nil
}

// gitRunner runs git in one repository.
type gitRunner struct {
	dir string
}

// gitError is a git command that ran and failed.
type gitError struct {
	args   []string
	err    error
	stderr string // trimmed
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", e.args[0], e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// detail is what git said, as a suffix for another message.
func (e *gitError) detail() string {
	if e.stderr == "" {
		return ""
	}
	return ": " + e.stderr
}

func (g gitRunner) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	env := make([]string, 0, len(os.Environ())+3)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !isLocalEnv(name) {
			env = append(env, kv)
		}
	}
	// English messages, paths matched literally, and never a credential prompt.
	cmd.Env = append(env, "LC_ALL=C", "GIT_LITERAL_PATHSPECS=1", "GIT_TERMINAL_PROMPT=0")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// isLocalEnv reports whether the environment variable points git at another repository,
// index or object store. The caller's (set, say, inside a git hook) must not leak into the
// repository we read.
func isLocalEnv(name string) bool {
	switch name {
	case "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_DIR", "GIT_GRAFT_FILE",
		"GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_INTERNAL_SUPER_PREFIX",
		"GIT_NAMESPACE", "GIT_NO_REPLACE_OBJECTS", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX",
		"GIT_REPLACE_REF_BASE", "GIT_SHALLOW_FILE", "GIT_WORK_TREE":
		return true
	}
	return false
}

// output runs git and returns its standard output.
func (g gitRunner) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := g.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, g.fail(ctx, args, err, &stderr)
	}
	return out, nil
}

// fail explains why git failed: ctx ended, git is missing, or git itself reported an error.
func (g gitRunner) fail(ctx context.Context, args []string, err error, stderr *bytes.Buffer) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("git %s: %w", args[0], ctxErr)
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("running git: git is not installed or not on PATH: %w", err)
	}
	if _, ok := errors.AsType[*exec.ExitError](err); !ok {
		return fmt.Errorf("running git %s: %w", args[0], err)
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return &gitError{args: args, err: err, stderr: msg}
}

// treeBlob is a file listed by git ls-tree.
type treeBlob struct {
	path string
	mode fs.FileMode
	oid  string
}

// listTree lists the files of commit under ps, leaving out submodules.
func (g gitRunner) listTree(ctx context.Context, commit string, ps prefixes) ([]treeBlob, error) {
	args := []string{"ls-tree", "-r", "-z", "--full-tree", commit, "--"}
	args = append(args, ps...)
	out, err := g.output(ctx, args...)
	if err != nil {
		return nil, err
	}
	var blobs []treeBlob
	for len(out) > 0 {
		rec, rest, ok := bytes.Cut(out, []byte{0})
		if !ok {
			return nil, fmt.Errorf("git ls-tree: unterminated record %q", rec)
		}
		out = rest
		b, skip, err := parseTreeRecord(string(rec))
		if err != nil {
			return nil, fmt.Errorf("git ls-tree: %w", err)
		}
		// git matches prefixes itself; checking again keeps us honest about what it matched.
		if skip || !ps.match(b.path) {
			continue
		}
		blobs = append(blobs, b)
	}
	return blobs, nil
}

// parseTreeRecord parses "<mode> SP <type> SP <object> TAB <path>". skip reports a
// submodule.
func parseTreeRecord(rec string) (b treeBlob, skip bool, err error) {
	meta, path, ok := strings.Cut(rec, "\t")
	fields := strings.Fields(meta)
	if !ok || len(fields) != 3 {
		return treeBlob{}, false, fmt.Errorf("malformed record %q", rec)
	}
	mode, typ, oid := fields[0], fields[1], fields[2]
	if typ == "commit" {
		return treeBlob{}, true, nil
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if typ != "blob" || err != nil || !isHex(oid) {
		return treeBlob{}, false, fmt.Errorf("unexpected entry %q", rec)
	}
	b = treeBlob{path: path, oid: oid}
	switch m & 0o170000 {
	case 0o120000:
		b.mode = fs.ModeSymlink
	case 0o100000:
		b.mode = fs.FileMode(m & 0o777)
	default:
		return treeBlob{}, false, fmt.Errorf("unexpected mode %s for %q", mode, path)
	}
	return b, false, nil
}

// catBlobs reads the objects oids with one git cat-file --batch process. The data may use
// at most budget bytes of the snapshot's limit.
func (g gitRunner) catBlobs(ctx context.Context, oids []string, budget, limit int64) (map[string][]byte, error) {
	if len(oids) == 0 {
		return map[string][]byte{}, nil
	}
	procCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{"cat-file", "--batch", "--buffer"}
	cmd := g.command(procCtx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting git cat-file: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, g.fail(ctx, args, err, &stderr)
	}

	// Write the requests while reading the answers, or both pipes could fill up.
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(stdin)
		var err error
		for _, oid := range oids {
			if _, err = w.WriteString(oid + "\n"); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Flush()
		}
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		written <- err
	}()

	data, readErr := readBatch(bufio.NewReaderSize(stdout, 64<<10), oids, budget, limit)
	if readErr != nil {
		cancel() // stop git, which unblocks the writer
	}
	writeErr := <-written
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("git cat-file: %w", ctx.Err())
	case errors.Is(readErr, ErrTooLarge):
		return nil, readErr
	case waitErr != nil:
		return nil, g.fail(ctx, args, waitErr, &stderr)
	case readErr != nil:
		return nil, fmt.Errorf("git cat-file: %w", readErr)
	case writeErr != nil:
		return nil, fmt.Errorf("git cat-file: writing requests: %w", writeErr)
	}
	return data, nil
}

// readBatch reads git cat-file --batch answers for oids, in order.
func readBatch(r *bufio.Reader, oids []string, budget, limit int64) (map[string][]byte, error) {
	data := make(map[string][]byte, len(oids))
	for _, oid := range oids {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading header for %s: %w", oid, noEOF(err))
		}
		fields := strings.Fields(header)
		if len(fields) == 2 && fields[1] == "missing" {
			return nil, fmt.Errorf("object %s is missing", oid)
		}
		if len(fields) != 3 || fields[0] != oid || fields[1] != "blob" {
			return nil, fmt.Errorf("unexpected header %q for %s", strings.TrimSpace(header), oid)
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("unexpected header %q for %s", strings.TrimSpace(header), oid)
		}
		if size > budget {
			return nil, fmt.Errorf("object %s: %w (limit %d bytes)", oid, ErrTooLarge, limit)
		}
		budget -= size
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reading object %s: %w", oid, noEOF(err))
		}
		if c, err := r.ReadByte(); err != nil || c != '\n' {
			return nil, fmt.Errorf("reading object %s: missing terminator", oid)
		}
		data[oid] = buf
	}
	return data, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isHex(s string) bool {
	if len(s) < 40 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
