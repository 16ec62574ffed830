package githubtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// routes maps the operationIds of the trimmed description to handlers.
func (s *Server) routes() map[string]handler {
	return map[string]handler{
		"apps/get-authenticated":                          s.getApp,
		"apps/create-installation-access-token":           s.createToken,
		"pulls/get":                                       s.getPull,
		"repos/compare-commits-with-basehead":             s.compare,
		"repos/download-tarball-archive":                  s.tarball,
		"checks/create":                                   s.createCheckRun,
		"checks/update":                                   s.updateCheckRun,
		"checks/get":                                      s.getCheckRun,
		"checks/list-for-ref":                             s.listCheckRuns,
		"issues/create-comment":                           s.createComment,
		"reactions/create-for-issue-comment":              s.createReaction,
		"repos/get-collaborator-permission-level":         s.getPermission,
		"pulls/list-reviews":                              s.listReviews,
		"repos/list-pull-requests-associated-with-commit": s.listCommitPulls,
		"repos/create-deployment":                         s.createDeployment,
		"repos/list-deployments":                          s.listDeployments,
		"repos/create-deployment-status":                  s.createDeploymentStatus,
		"repos/list-deployment-statuses":                  s.listDeploymentStatuses,
	}
}

// validationFailed is GitHub's 422 for a request its schema allows but its
// rules do not.
func validationFailed(resource, field, message string) reply {
	return reply{status: http.StatusUnprocessableEntity, body: map[string]any{
		"message":           "Validation Failed",
		"errors":            []any{map[string]any{"resource": resource, "code": "custom", "field": field, "message": message}},
		"documentation_url": docsURL,
	}}
}

func notFound() reply { return errorReply(http.StatusNotFound, "Not Found") }

// lookupRepo finds the repository of a call's owner and repo parameters.
func (s *Server) lookupRepo(c *call) *repoState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repoLocked(c.params["owner"], c.params["repo"])
}

// intParam is a path parameter the description declares an integer.
func intParam(c *call, name string) int64 {
	n, _ := strconv.ParseInt(c.params[name], 10, 64)
	return n
}

func (s *Server) getApp(_ context.Context, _ *call) reply {
	return reply{status: http.StatusOK, body: s.app()}
}

func (s *Server) createToken(_ context.Context, c *call) reply {
	if intParam(c, "installation_id") != installationID {
		return notFound()
	}
	tok, expires := s.newToken(c.now)
	return reply{status: http.StatusCreated, body: map[string]any{
		"token":                tok,
		"expires_at":           timestamp(expires),
		"permissions":          appPermissions(),
		"repository_selection": "all",
	}}
}

func (s *Server) getPull(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.pulls[int(intParam(c, "pull_number"))]
	if p == nil {
		return notFound()
	}
	return reply{status: http.StatusOK, body: s.pullRequestLocked(r, p)}
}

func (s *Server) listReviews(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	number := int(intParam(c, "pull_number"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.pulls[number] == nil {
		return notFound()
	}
	reviews := r.reviewsLocked(number)
	from, to, _, link := paginate(c, len(reviews))
	list := make([]any, 0, to-from)
	for _, rv := range reviews[from:to] {
		list = append(list, s.reviewObjectLocked(r, rv))
	}
	return listReply(list, link)
}

// listReply is a page of a list, with its Link header.
func listReply(list []any, link string) reply {
	var header http.Header
	if link != "" {
		header = http.Header{"Link": {link}}
	}
	return reply{status: http.StatusOK, header: header, body: list}
}

// listCommitPulls lists the pull requests associated with a commit: once
// the commit is on the default branch, the merged pull requests that
// brought it there (it is their merge commit, or one of their commits);
// before, the open pull requests that have it.
func (s *Server) listCommitPulls(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	ref := c.params["commit_sha"]
	sha, err := r.git.resolve(ctx, ref)
	if err != nil {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
	}
	onDefault, err := r.git.isAncestor(ctx, sha, r.info.DefaultBranch)
	if err != nil {
		return errorReply(http.StatusInternalServerError, err.Error())
	}
	type candidate struct {
		number           int
		baseSHA, headSHA string
		mergeCommit      string
		open, merged     bool
	}
	var cands []candidate
	s.mu.Lock()
	for n, p := range r.pulls {
		cands = append(cands, candidate{n, p.BaseSHA, p.HeadSHA, p.MergeCommitSHA, p.State == "open", p.Merged})
	}
	s.mu.Unlock()
	slices.SortFunc(cands, func(a, b candidate) int { return a.number - b.number })

	// has reports whether sha is one of the commits of a pull request.
	has := func(p candidate) (bool, error) {
		if p.headSHA == sha {
			return true, nil
		}
		inHead, err := r.git.isAncestor(ctx, sha, p.headSHA)
		if err != nil || !inHead {
			return false, err
		}
		inBase, err := r.git.isAncestor(ctx, sha, p.baseSHA)
		return !inBase, err
	}
	var numbers []int
	for _, p := range cands {
		var ok bool
		switch {
		case onDefault && p.merged:
			ok = p.mergeCommit == sha
			if !ok {
				ok, err = has(p)
			}
		case !onDefault && p.open:
			ok, err = has(p)
		}
		if err != nil {
			return errorReply(http.StatusInternalServerError, err.Error())
		}
		if ok {
			numbers = append(numbers, p.number)
		}
	}
	from, to, _, link := paginate(c, len(numbers))
	list := make([]any, 0, to-from)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range numbers[from:to] {
		list = append(list, s.pullRequestSimpleLocked(r, r.pulls[n]))
	}
	return listReply(list, link)
}

// maxCompareCommits and maxCompareFiles are GitHub's limits on a compare,
// maxPerPage its largest page.
const (
	maxPerPage        = 100
	maxCompareCommits = 250
	maxCompareFiles   = 300
)

func (s *Server) compare(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	baseRef, headRef, ok := strings.Cut(c.params["basehead"], "...")
	if !ok {
		return notFound()
	}
	// USER:BRANCH names a branch of a fork; the fake has none, but the
	// owner's own name works.
	baseRef = strings.TrimPrefix(baseRef, r.info.Owner+":")
	headRef = strings.TrimPrefix(headRef, r.info.Owner+":")
	base, err := r.git.resolve(ctx, baseRef)
	if err != nil {
		return notFound()
	}
	head, err := r.git.resolve(ctx, headRef)
	if err != nil {
		return notFound()
	}
	mergeBase, err := r.git.mergeBase(ctx, base, head)
	if err != nil {
		return errorReply(http.StatusNotFound, "No common ancestor between "+baseRef+" and "+headRef+".")
	}
	ahead, err1 := r.git.count(ctx, mergeBase, head)
	behind, err2 := r.git.count(ctx, mergeBase, base)
	commits, err3 := r.git.commits(ctx, mergeBase, head)
	baseCommit, err4 := r.git.commits(ctx, "", base)
	mbCommit, err5 := r.git.commits(ctx, "", mergeBase)
	files, err6 := r.git.diff(ctx, mergeBase, head)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return errorReply(http.StatusInternalServerError, err.Error())
	}
	status := "diverged"
	switch {
	case ahead == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	// Without paging parameters GitHub lists the first 250 commits; with
	// them it pages the commits and lists the files on the first page only.
	var header http.Header
	listFiles := true
	q := c.r.URL.Query()
	if q.Has("per_page") || q.Has("page") {
		from, to, page, link := paginate(c, len(commits))
		commits = commits[from:to]
		listFiles = page == 1
		if link != "" {
			header = http.Header{"Link": {link}}
		}
	} else if len(commits) > maxCompareCommits {
		commits = commits[:maxCompareCommits]
	}
	if len(files) > maxCompareFiles {
		files = files[:maxCompareFiles]
	}
	commitList := make([]any, len(commits))
	for i, ci := range commits {
		commitList[i] = s.commitObject(r, ci)
	}
	fileList := make([]any, len(files))
	for i, f := range files {
		fileList[i] = s.diffEntry(r, f)
	}
	api, html := s.repoURL(r), htmlBase+r.info.FullName()
	basehead := url.PathEscape(baseRef) + "..." + url.PathEscape(headRef)
	body := map[string]any{
		"url":               api + "/compare/" + basehead,
		"html_url":          html + "/compare/" + basehead,
		"permalink_url":     html + "/compare/" + r.info.Owner + ":" + base[:7] + "..." + r.info.Owner + ":" + head[:7],
		"diff_url":          html + "/compare/" + basehead + ".diff",
		"patch_url":         html + "/compare/" + basehead + ".patch",
		"base_commit":       s.commitObject(r, baseCommit[0]),
		"merge_base_commit": s.commitObject(r, mbCommit[0]),
		"status":            status,
		"ahead_by":          ahead,
		"behind_by":         behind,
		"total_commits":     ahead,
		"commits":           commitList,
	}
	if listFiles {
		body["files"] = fileList
	}
	return reply{status: http.StatusOK, header: header, body: body}
}

// paginate picks the page a call asks for (per_page, at most 100, and
// page) of n items: the items from and to, the page, and the Link header
// that tells the other pages, as GitHub sends it.
func paginate(c *call, n int) (from, to, page int, link string) {
	q := c.r.URL.Query()
	perPage, page := 30, 1
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, maxPerPage)
	}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	from = min((page-1)*perPage, n)
	to = min(from+perPage, n)
	last := max(1, (n+perPage-1)/perPage)
	pageURL := func(p int) string {
		u := *c.r.URL
		v := u.Query()
		v.Set("per_page", strconv.Itoa(perPage))
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		return "<" + strings.TrimSuffix(c.base, "/") + u.RequestURI() + ">"
	}
	var links []string
	if page < last {
		links = append(links, pageURL(page+1)+`; rel="next"`, pageURL(last)+`; rel="last"`)
	}
	if page > 1 {
		links = append(links, pageURL(1)+`; rel="first"`, pageURL(min(page-1, last))+`; rel="prev"`)
	}
	return from, to, page, strings.Join(links, ", ")
}

// commitObject is the commit object of a compare.
func (s *Server) commitObject(r *repoState, ci commitInfo) map[string]any {
	api, html := s.repoURL(r), htmlBase+r.info.FullName()
	parents := make([]any, len(ci.parents))
	for i, p := range ci.parents {
		parents[i] = map[string]any{"sha": p, "url": api + "/commits/" + p, "html_url": html + "/commit/" + p}
	}
	return map[string]any{
		"sha":          ci.sha,
		"node_id":      base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "06:Commit%d:%s", r.info.ID, ci.sha)),
		"url":          api + "/commits/" + ci.sha,
		"html_url":     html + "/commit/" + ci.sha,
		"comments_url": api + "/commits/" + ci.sha + "/comments",
		"commit": map[string]any{
			"url":           api + "/git/commits/" + ci.sha,
			"author":        map[string]any{"name": ci.authorName, "email": ci.authorEmail, "date": timestamp(ci.authorDate)},
			"committer":     map[string]any{"name": ci.committerName, "email": ci.committerEm, "date": timestamp(ci.committerDate)},
			"message":       ci.message,
			"comment_count": 0,
			"tree":          map[string]any{"sha": ci.tree, "url": api + "/git/trees/" + ci.tree},
			"verification": map[string]any{
				"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil,
			},
		},
		// The commit's author and committer are git identities with no
		// GitHub account behind them, as GitHub shows them then.
		"author":    nil,
		"committer": nil,
		"parents":   parents,
	}
}

// diffEntry is a file of a compare.
func (s *Server) diffEntry(r *repoState, f fileChange) map[string]any {
	html := htmlBase + r.info.FullName()
	path := escapePath(f.filename)
	e := map[string]any{
		"sha":          f.sha,
		"filename":     f.filename,
		"status":       f.status,
		"additions":    f.additions,
		"deletions":    f.deletions,
		"changes":      f.additions + f.deletions,
		"blob_url":     html + "/blob/" + f.sha + "/" + path,
		"raw_url":      html + "/raw/" + f.sha + "/" + path,
		"contents_url": s.repoURL(r) + "/contents/" + path + "?ref=" + f.sha,
	}
	if f.previousFilename != "" {
		e["previous_filename"] = f.previousFilename
	}
	return e
}

// escapePath escapes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// codeloadPrefix is where the fake serves archives, as GitHub does from
// codeload.github.com; the paths are outside the REST API and its
// description.
const codeloadPrefix = "/_codeload/"

// downloadLifetime is how long a tarball link works ("these links are
// temporary and expire after five minutes").
const downloadLifetime = 5 * time.Minute

// download is what a codeload token lets its holder fetch.
type download struct {
	repo    string // lower-case owner/name
	commit  string
	expires time.Time
}

func (s *Server) tarball(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	commit, err := r.git.resolve(ctx, c.params["ref"])
	if err != nil {
		return notFound()
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	tok := hex.EncodeToString(raw)
	s.mu.Lock()
	s.downloads[tok] = download{repo: repoKey(r.info.Owner, r.info.Name), commit: commit, expires: c.now.Add(downloadLifetime)}
	s.mu.Unlock()
	loc := s.ts.URL + codeloadPrefix + r.info.FullName() + "/legacy.tar.gz/" + commit + "?token=" + tok
	return reply{status: http.StatusFound, header: http.Header{"Location": {loc}}}
}

// serveCodeload answers a tarball download and returns its status.
func (s *Server) serveCodeload(w http.ResponseWriter, r *http.Request) int {
	fail := func(status int) int {
		http.Error(w, http.StatusText(status), status)
		return status
	}
	// /_codeload/{owner}/{repo}/legacy.tar.gz/{sha}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, codeloadPrefix), "/")
	if r.Method != http.MethodGet || len(parts) != 4 || parts[2] != "legacy.tar.gz" {
		s.t.Errorf("githubtest: %s %s: not a download link the fake handed out", r.Method, r.URL.Path)
		return fail(http.StatusNotFound)
	}
	s.mu.Lock()
	d, ok := s.downloads[r.URL.Query().Get("token")]
	repo := s.repoLocked(parts[0], parts[1])
	s.mu.Unlock()
	if !ok || time.Now().After(d.expires) || d.repo != repoKey(parts[0], parts[1]) || d.commit != parts[3] || repo == nil {
		// What codeload answers to a stale or forged link.
		return fail(http.StatusNotFound)
	}
	name := parts[0] + "-" + parts[1] + "-" + d.commit[:7]
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("Content-Disposition", "attachment; filename="+name+".tar.gz")
	if err := repo.git.archive(r.Context(), w, d.commit, name+"/"); err != nil {
		s.t.Errorf("githubtest: serving %s: %v", r.URL.Path, err)
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// maxCommentRunes is GitHub's limit on a comment's body ("body is too long
// (maximum is 65536 characters)"); the description states no maxLength.
const maxCommentRunes = 65536

func (s *Server) createComment(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	if n := utf8.RuneCountInString(req.Body); n > maxCommentRunes {
		return validationFailed("IssueComment", "body", "body is too long (maximum is 65536 characters)")
	}
	number := int(intParam(c, "issue_number"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.pulls[number] == nil && r.issues[number] == nil {
		return notFound()
	}
	cm := &commentState{Comment: Comment{
		ID: s.newIDLocked(), Number: number, User: appSlug + "[bot]", Body: req.Body,
		CreatedAt: c.now, UpdatedAt: c.now,
	}}
	r.comments = append(r.comments, cm)
	obj := s.commentObjectLocked(r, cm)
	return reply{status: http.StatusCreated, header: http.Header{"Location": {obj["url"].(string)}}, body: obj}
}

func (s *Server) createReaction(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req struct {
		Content string `json:"content"`
	}
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cm := r.commentLocked(intParam(c, "comment_id"))
	if cm == nil {
		return notFound()
	}
	bot := appSlug + "[bot]"
	status := http.StatusOK // "Reaction exists"
	var re *reactionState
	for i := range cm.reactions {
		if cm.reactions[i].user == bot && cm.reactions[i].content == req.Content {
			re = &cm.reactions[i]
		}
	}
	if re == nil {
		cm.reactions = append(cm.reactions, reactionState{id: s.newIDLocked(), user: bot, content: req.Content, createdAt: c.now})
		re = &cm.reactions[len(cm.reactions)-1]
		status = http.StatusCreated
	}
	return reply{status: status, body: map[string]any{
		"id":         re.id,
		"node_id":    nodeID("Reaction", re.id),
		"user":       s.user(re.user),
		"content":    re.content,
		"created_at": timestamp(re.createdAt),
	}}
}

func (s *Server) getPermission(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	login := c.params["username"]
	s.mu.Lock()
	role := r.roleLocked(login)
	s.mu.Unlock()
	at := func(roles ...string) bool { return slices.Contains(roles, role) }
	user := s.user(login)
	user["role_name"] = role
	user["permissions"] = map[string]any{
		"admin":    at("admin"),
		"maintain": at("admin", "maintain"),
		"push":     at("admin", "maintain", "write"),
		"triage":   at("admin", "maintain", "write", "triage"),
		"pull":     at("admin", "maintain", "write", "triage", "read"),
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"permission": roles[role],
		"role_name":  role,
		"user":       user,
	}}
}
