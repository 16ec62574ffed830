package githubtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// errNoCommit is returned when a ref names no commit in a repository.
var errNoCommit = errors.New("no commit found")

// gitRepo runs git commands in a test's repository.
type gitRepo struct {
	dir string
}

func (g gitRepo) output(ctx context.Context, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.dir}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), g.dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// resolve returns the commit ref names (a branch, tag or SHA).
func (g gitRepo) resolve(ctx context.Context, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("%w for %q", errNoCommit, ref)
	}
	out, err := g.output(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%w for %q: %w", errNoCommit, ref, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// defaultBranch is the branch HEAD points at, "main" when HEAD is detached.
func (g gitRepo) defaultBranch(ctx context.Context) string {
	out, err := g.output(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return "main"
	}
	return strings.TrimSpace(string(out))
}

func (g gitRepo) mergeBase(ctx context.Context, a, b string) (string, error) {
	out, err := g.output(ctx, "merge-base", a, b)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// commitInfo is what the fake tells about a commit.
type commitInfo struct {
	sha, tree, message         string
	parents                    []string
	authorName, authorEmail    string
	authorDate                 time.Time
	committerName, committerEm string
	committerDate              time.Time
}

// commits lists the commits reachable from to but not from from, oldest
// first; from may be empty to list one commit, to.
func (g gitRepo) commits(ctx context.Context, from, to string) ([]commitInfo, error) {
	args := []string{"log", "--reverse", "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e"}
	if from == "" {
		args = append(args, "-1", to)
	} else {
		args = append(args, from+".."+to)
	}
	out, err := g.output(ctx, args...)
	if err != nil {
		return nil, err
	}
	var cs []commitInfo
	for rec := range strings.SplitSeq(string(out), "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\x00", 10)
		if len(f) != 10 {
			return nil, fmt.Errorf("git log in %s: unexpected record %q", g.dir, rec)
		}
		c := commitInfo{
			sha: f[0], tree: f[1], parents: strings.Fields(f[2]),
			authorName: f[3], authorEmail: f[4],
			committerName: f[6], committerEm: f[7],
			message: strings.TrimRight(f[9], "\n"),
		}
		if c.authorDate, err = time.Parse(time.RFC3339, f[5]); err != nil {
			return nil, fmt.Errorf("git log in %s: %w", g.dir, err)
		}
		if c.committerDate, err = time.Parse(time.RFC3339, f[8]); err != nil {
			return nil, fmt.Errorf("git log in %s: %w", g.dir, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// count is the number of commits reachable from to but not from from.
func (g gitRepo) count(ctx context.Context, from, to string) (int, error) {
	out, err := g.output(ctx, "rev-list", "--count", from+".."+to)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// fileChange is one file of a diff, as GitHub's compare lists it.
type fileChange struct {
	filename, previousFilename string
	status                     string // added, removed, modified, renamed, copied, changed
	sha                        string // the file's blob after the change (before, when removed)
	additions, deletions       int
}

// diff lists the files changed between two commits, renames detected.
func (g gitRepo) diff(ctx context.Context, from, to string) ([]fileChange, error) {
	raw, err := g.output(ctx, "diff", "--raw", "--no-abbrev", "-M", "-z", from, to)
	if err != nil {
		return nil, err
	}
	var files []fileChange
	fields := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	for i := 0; i < len(fields); {
		// ":100644 100644 <old> <new> M" then one path, or two for R and C.
		meta := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(meta) != 5 || i+1 >= len(fields) {
			if fields[i] == "" {
				break
			}
			return nil, fmt.Errorf("git diff --raw in %s: unexpected %q", g.dir, fields[i])
		}
		f := fileChange{sha: meta[3], filename: fields[i+1]}
		i += 2
		switch meta[4][0] {
		case 'A':
			f.status = "added"
		case 'D':
			f.status, f.sha = "removed", meta[2]
		case 'M':
			f.status = "modified"
		case 'T':
			f.status = "changed"
		case 'R', 'C':
			f.status = map[byte]string{'R': "renamed", 'C': "copied"}[meta[4][0]]
			if i >= len(fields) {
				return nil, fmt.Errorf("git diff --raw in %s: %s without a new path", g.dir, meta[4])
			}
			f.previousFilename, f.filename = f.filename, fields[i]
			i++
		default:
			return nil, fmt.Errorf("git diff --raw in %s: unknown status %q", g.dir, meta[4])
		}
		files = append(files, f)
	}

	// --numstat lists the same files in the same order.
	num, err := g.output(ctx, "diff", "--numstat", "-M", "-z", from, to)
	if err != nil {
		return nil, err
	}
	fields = strings.Split(strings.TrimSuffix(string(num), "\x00"), "\x00")
	n := 0
	for i := 0; i < len(fields) && n < len(files); n++ {
		counts := strings.SplitN(fields[i], "\t", 3)
		if len(counts) != 3 {
			return nil, fmt.Errorf("git diff --numstat in %s: unexpected %q", g.dir, fields[i])
		}
		i++
		if counts[2] == "" { // a rename: old and new paths follow
			i += 2
		}
		// Binary files count "-": GitHub reports 0 for them.
		files[n].additions, _ = strconv.Atoi(counts[0])
		files[n].deletions, _ = strconv.Atoi(counts[1])
	}
	return files, nil
}

// archive writes commit as a gzipped tarball whose entries sit under prefix.
func (g gitRepo) archive(ctx context.Context, w io.Writer, commit, prefix string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "-C", g.dir, "archive", "--format=tar.gz", "--prefix="+prefix, commit)
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git archive %s in %s: %w: %s", commit, g.dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// isAncestor reports whether commit a is reachable from commit b (a
// commit is its own ancestor).
func (g gitRepo) isAncestor(ctx context.Context, a, b string) (bool, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", g.dir, "merge-base", "--is-ancestor", a, b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("git merge-base --is-ancestor %s %s in %s: %w: %s", a, b, g.dir, err, bytes.TrimSpace(stderr.Bytes()))
}

// isBranch reports whether name is a branch of the repository.
func (g gitRepo) isBranch(ctx context.Context, name string) bool {
	if name == "" || strings.HasPrefix(name, "-") {
		return false
	}
	_, err := g.output(ctx, "show-ref", "--verify", "--quiet", "refs/heads/"+name)
	return err == nil
}

// errConflict is returned by merge when the commits do not merge cleanly.
var errConflict = errors.New("merge conflict")

// signature is who makes a commit the fake writes.
type signature struct {
	name, email string
	when        time.Time
}

// merge writes a commit merging theirs into ours, with ours as first
// parent, without touching any branch or work tree, and returns it.
func (g gitRepo) merge(ctx context.Context, ours, theirs, message string, author, committer signature) (string, error) {
	out, err := g.output(ctx, "merge-tree", "--write-tree", "--no-messages", ours, theirs)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 {
			return "", fmt.Errorf("merging %s into %s: %w", theirs, ours, errConflict)
		}
		return "", err
	}
	tree, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "-C", g.dir, "commit-tree", "--no-gpg-sign", tree, "-p", ours, "-p", theirs, "-F", "-")
	cmd.Stdin = strings.NewReader(message + "\n")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(cmd.Environ(),
		"GIT_AUTHOR_NAME="+author.name, "GIT_AUTHOR_EMAIL="+author.email, "GIT_AUTHOR_DATE="+author.when.Format(time.RFC3339),
		"GIT_COMMITTER_NAME="+committer.name, "GIT_COMMITTER_EMAIL="+committer.email, "GIT_COMMITTER_DATE="+committer.when.Format(time.RFC3339),
	)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git commit-tree in %s: %w: %s", g.dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// advanceBranch moves branch from old to commit, a descendant of old. When
// the branch is checked out in a work tree, the work tree follows, as a
// fast-forward merge there would.
func (g gitRepo) advanceBranch(ctx context.Context, branch, old, commit string) error {
	bare, err := g.output(ctx, "rev-parse", "--is-bare-repository")
	if err != nil {
		return err
	}
	head, _ := g.output(ctx, "symbolic-ref", "--quiet", "HEAD")
	if strings.TrimSpace(string(bare)) == "false" && strings.TrimSpace(string(head)) == "refs/heads/"+branch {
		_, err := g.output(ctx, "merge", "--ff-only", "--quiet", commit)
		return err
	}
	_, err = g.output(ctx, "update-ref", "refs/heads/"+branch, commit, old)
	return err
}

// emptyTree is the id of the empty tree in the repository's hash.
func (g gitRepo) emptyTree(ctx context.Context) (string, error) {
	out, err := g.output(ctx, "hash-object", "-t", "tree", "/dev/null")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
