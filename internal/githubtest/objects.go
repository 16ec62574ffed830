package githubtest

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// examples are real webhook payloads (from @octokit/webhooks-examples),
// copied by ./trimspec. The fake builds both its webhook payloads and its
// REST objects from them, so they look like GitHub's.
//
//go:embed testdata/webhooks/*.json
var examples embed.FS

// example returns a fresh copy of the example payload name, such as
// "pull_request.opened".
func (s *Server) example(name string) map[string]any {
	data, err := examples.ReadFile("testdata/webhooks/" + name + ".json")
	if err != nil {
		panic(fmt.Sprintf("githubtest: no webhook example %s (rerun ./trimspec): %v", name, err))
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		panic(fmt.Sprintf("githubtest: webhook example %s: %v", name, err))
	}
	return v
}

// exampleObject returns one object of an example payload, following keys.
func (s *Server) exampleObject(name string, keys ...string) map[string]any {
	var v any = s.example(name)
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, ok := v.(map[string]any)
	if !ok {
		panic(fmt.Sprintf("githubtest: webhook example %s has no object %s", name, strings.Join(keys, ".")))
	}
	return m
}

// htmlBase is where GitHub's web pages live; the fake serves none, but
// html_url fields look as on github.com.
const htmlBase = "https://github.com/"

// timestamp formats t as GitHub does.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// nullTime is a timestamp, or JSON null for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return timestamp(t)
}

// nullString is s, or JSON null when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nodeID makes a GraphQL node id in GitHub's legacy format, such as
// base64("04:User21031067").
func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "0%d:%s%d", len(kind), kind, id))
}

// userID is a stable id for a login.
func userID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(login)))
	return int64(h.Sum32()%90_000_000) + 1_000_000
}

// rewrite replaces, in every string inside v, the names of an example's
// repository and API host with the fake's.
func rewrite(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = rewrite(x, r)
		}
	case []any:
		for i, x := range v {
			v[i] = rewrite(x, r)
		}
	case string:
		return r.Replace(v)
	}
	return v
}

// replacer rewrites an example's repository exampleFull ("owner/name") to
// r's, and api.github.com to the fake.
func (s *Server) replacer(exampleFull string, r *repoState) *strings.Replacer {
	pairs := []string{"https://api.github.com/", s.URL()}
	if r != nil && exampleFull != "" {
		pairs = append(pairs, exampleFull, r.info.FullName())
	}
	return strings.NewReplacer(pairs...)
}

// user is the simple-user object for login; logins ending in [bot] are
// bots.
func (s *Server) user(login string) map[string]any {
	id := userID(login)
	typ, html := "User", htmlBase+login
	if slug, ok := strings.CutSuffix(login, "[bot]"); ok {
		typ, html = "Bot", htmlBase+"apps/"+slug
	}
	api := s.URL() + "users/" + url.PathEscape(login)
	return map[string]any{
		"login":               login,
		"id":                  id,
		"node_id":             nodeID(typ, id),
		"avatar_url":          "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(id, 10) + "?v=4",
		"gravatar_id":         "",
		"url":                 api,
		"html_url":            html,
		"followers_url":       api + "/followers",
		"following_url":       api + "/following{/other_user}",
		"gists_url":           api + "/gists{/gist_id}",
		"starred_url":         api + "/starred{/owner}{/repo}",
		"subscriptions_url":   api + "/subscriptions",
		"organizations_url":   api + "/orgs",
		"repos_url":           api + "/repos",
		"events_url":          api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
		"type":                typ,
		"user_view_type":      "public",
		"site_admin":          false,
	}
}

// appHomepage is the app's homepage, the details URL of check runs that
// name none.
const appHomepage = "https://cluster-as-code.example/"

// appPermissions are what the app was granted, and what its tokens carry.
func appPermissions() map[string]any {
	return map[string]any{
		"checks":        "write",
		"contents":      "read",
		"deployments":   "write",
		"issues":        "write",
		"metadata":      "read",
		"pull_requests": "write",
	}
}

// appEvents are the webhook events the app subscribes to.
func appEvents() []any {
	return []any{"check_run", "check_suite", "issue_comment", "pull_request", "pull_request_review", "push"}
}

// app is the app's integration object, as GET /app and check runs show it.
func (s *Server) app() map[string]any {
	a := s.exampleObject("check_run.rerequested", "check_run", "app")
	rewrite(a, s.replacer("", nil))
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	a["id"] = appID
	a["client_id"] = "Iv1.0123456789abcdef"
	a["slug"] = appSlug
	a["node_id"] = nodeID("Integration", appID)
	a["owner"] = s.user(appOwner)
	a["name"] = appSlug
	a["description"] = "Plans and rolls out bare-metal clusters from git."
	a["external_url"] = appHomepage
	a["html_url"] = htmlBase + "apps/" + appSlug
	a["created_at"] = timestamp(created)
	a["updated_at"] = timestamp(created)
	a["permissions"] = appPermissions()
	a["events"] = appEvents()
	return a
}

// installation is the installation object webhook payloads carry.
func installation() map[string]any {
	return map[string]any{"id": installationID, "node_id": nodeID("IntegrationInstallation", installationID)}
}

// exampleFullName is the full name of an example payload's repository.
func exampleFullName(ev map[string]any) string {
	full, _ := lookupString(ev, "repository", "full_name")
	return full
}

// repositoryLocked is the repository object for r. Callers hold s.mu.
func (s *Server) repositoryLocked(r *repoState) map[string]any {
	return s.exampleRepositoryLocked("pull_request.opened", r)
}

// exampleRepositoryLocked is the repository object for r, shaped as in the
// example payload name. Callers hold s.mu.
func (s *Server) exampleRepositoryLocked(name string, r *repoState) map[string]any {
	ex := s.example(name)
	repo, _ := ex["repository"].(map[string]any)
	rewrite(repo, s.replacer(exampleFullName(ex), r))
	delete(repo, "organization")
	repo["id"] = r.info.ID
	repo["node_id"] = nodeID("Repository", r.info.ID)
	repo["name"] = r.info.Name
	repo["full_name"] = r.info.FullName()
	repo["owner"] = s.user(r.info.Owner)
	repo["private"] = false
	repo["visibility"] = "public"
	repo["has_discussions"] = false
	repo["default_branch"] = r.info.DefaultBranch
	repo["created_at"] = timestamp(r.createdAt)
	repo["updated_at"] = timestamp(r.createdAt)
	repo["pushed_at"] = timestamp(r.createdAt)
	repo["html_url"] = htmlBase + r.info.FullName()
	open := 0
	for _, p := range r.pulls {
		if p.State == "open" {
			open++
		}
	}
	repo["open_issues_count"], repo["open_issues"] = open, open
	return repo
}

func (s *Server) repoURL(r *repoState) string { return s.URL() + "repos/" + r.info.FullName() }

// pullRequestLocked is the pull-request object for p. Callers hold s.mu.
func (s *Server) pullRequestLocked(r *repoState, p *pullState) map[string]any {
	ex := s.example("pull_request.opened")
	pr, _ := ex["pull_request"].(map[string]any)
	rewrite(pr, s.replacer(exampleFullName(ex), r))

	api, html := s.repoURL(r), htmlBase+r.info.FullName()
	n := strconv.Itoa(p.Number)
	pr["url"] = api + "/pulls/" + n
	pr["id"] = p.id
	pr["node_id"] = nodeID("PullRequest", p.id)
	pr["html_url"] = html + "/pull/" + n
	pr["diff_url"] = html + "/pull/" + n + ".diff"
	pr["patch_url"] = html + "/pull/" + n + ".patch"
	pr["issue_url"] = api + "/issues/" + n
	pr["commits_url"] = api + "/pulls/" + n + "/commits"
	pr["review_comments_url"] = api + "/pulls/" + n + "/comments"
	pr["review_comment_url"] = api + "/pulls/comments{/number}"
	pr["comments_url"] = api + "/issues/" + n + "/comments"
	pr["statuses_url"] = api + "/statuses/" + p.HeadSHA
	pr["number"] = p.Number
	pr["state"] = p.State
	pr["locked"] = false
	pr["title"] = p.Title
	pr["body"] = nullString(p.Body)
	pr["user"] = s.user(p.Author)
	pr["created_at"] = timestamp(p.createdAt)
	pr["updated_at"] = timestamp(p.updateAt)
	pr["closed_at"] = nullTime(p.closedAt)
	pr["draft"] = p.Draft
	pr["merged"] = p.Merged
	pr["merge_commit_sha"] = nullString(p.MergeCommitSHA)
	if p.Merged {
		pr["merged_at"] = timestamp(p.closedAt)
		pr["merged_by"] = s.user(p.Author)
	} else {
		pr["merged_at"] = nil
		pr["merged_by"] = nil
	}
	pr["assignee"] = nil
	pr["assignees"] = []any{}
	pr["requested_reviewers"] = []any{}
	pr["requested_teams"] = []any{}
	pr["labels"] = []any{}
	pr["milestone"] = nil
	pr["auto_merge"] = nil
	pr["author_association"] = r.associationLocked(p.Author)
	var mergeable any
	if p.mergeable != nil {
		mergeable = *p.mergeable
	}
	pr["mergeable"], pr["rebaseable"], pr["mergeable_state"] = mergeable, mergeable, p.mergeableState
	repo := s.repositoryLocked(r)
	for _, end := range []struct{ key, ref, sha string }{
		{"head", p.HeadRef, p.HeadSHA},
		{"base", p.BaseRef, p.BaseSHA},
	} {
		owner, endRepo := r.info.Owner, repo
		if end.key == "head" && p.ForkOwner != "" {
			owner, endRepo = p.ForkOwner, s.forkLocked(repo, p.ForkOwner)
		}
		pr[end.key] = map[string]any{
			"label": owner + ":" + end.ref,
			"ref":   end.ref,
			"sha":   end.sha,
			"user":  s.user(owner),
			"repo":  endRepo,
		}
	}
	pr["_links"] = map[string]any{
		"self":            map[string]any{"href": api + "/pulls/" + n},
		"html":            map[string]any{"href": html + "/pull/" + n},
		"issue":           map[string]any{"href": api + "/issues/" + n},
		"comments":        map[string]any{"href": api + "/issues/" + n + "/comments"},
		"review_comments": map[string]any{"href": api + "/pulls/" + n + "/comments"},
		"review_comment":  map[string]any{"href": api + "/pulls/comments{/number}"},
		"commits":         map[string]any{"href": api + "/pulls/" + n + "/commits"},
		"statuses":        map[string]any{"href": api + "/statuses/" + p.HeadSHA},
	}
	return pr
}

// fullOnlyPullFields are the fields of a pull request that the simple
// pull request of lists and some webhooks does not have.
var fullOnlyPullFields = []string{
	"merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments", "review_comments",
	"maintainer_can_modify", "commits", "additions", "deletions", "changed_files",
}

// pullRequestSimpleLocked is the pull-request-simple object for p, as
// lists of pull requests show it. Callers hold s.mu.
func (s *Server) pullRequestSimpleLocked(r *repoState, p *pullState) map[string]any {
	pr := s.pullRequestLocked(r, p)
	for _, k := range fullOnlyPullFields {
		delete(pr, k)
	}
	return pr
}

// reviewObjectLocked is the pull-request-review object for rv. Callers
// hold s.mu.
func (s *Server) reviewObjectLocked(r *repoState, rv *PullRequestReview) map[string]any {
	n := strconv.Itoa(rv.Number)
	pull := s.repoURL(r) + "/pulls/" + n
	html := htmlBase + r.info.FullName() + "/pull/" + n + "#pullrequestreview-" + strconv.FormatInt(rv.ID, 10)
	return map[string]any{
		"id":                 rv.ID,
		"node_id":            nodeID("PullRequestReview", rv.ID),
		"user":               s.user(rv.User),
		"body":               rv.Body,
		"state":              rv.State,
		"html_url":           html,
		"pull_request_url":   pull,
		"_links":             map[string]any{"html": map[string]any{"href": html}, "pull_request": map[string]any{"href": pull}},
		"submitted_at":       timestamp(rv.SubmittedAt),
		"commit_id":          rv.CommitID,
		"author_association": r.associationLocked(rv.User),
	}
}

// deploymentObjectLocked is the deployment object for d. Callers hold
// s.mu.
func (s *Server) deploymentObjectLocked(r *repoState, d *Deployment) map[string]any {
	url := s.repoURL(r) + "/deployments/" + strconv.FormatInt(d.ID, 10)
	return map[string]any{
		"url":                      url,
		"id":                       d.ID,
		"node_id":                  nodeID("Deployment", d.ID),
		"sha":                      d.SHA,
		"ref":                      d.Ref,
		"task":                     d.Task,
		"payload":                  d.Payload,
		"original_environment":     d.OriginalEnvironment,
		"environment":              d.Environment,
		"description":              d.Description,
		"creator":                  s.user(d.Creator),
		"created_at":               timestamp(d.CreatedAt),
		"updated_at":               timestamp(d.UpdatedAt),
		"statuses_url":             url + "/statuses",
		"repository_url":           s.repoURL(r),
		"transient_environment":    d.TransientEnvironment,
		"production_environment":   d.ProductionEnvironment,
		"performed_via_github_app": s.app(),
	}
}

// deploymentStatusObjectLocked is the deployment-status object for st, a
// status of d. Callers hold s.mu.
func (s *Server) deploymentStatusObjectLocked(r *repoState, d *Deployment, st *DeploymentStatus) map[string]any {
	deployment := s.repoURL(r) + "/deployments/" + strconv.FormatInt(d.ID, 10)
	return map[string]any{
		"url":                      deployment + "/statuses/" + strconv.FormatInt(st.ID, 10),
		"id":                       st.ID,
		"node_id":                  nodeID("DeploymentStatus", st.ID),
		"state":                    st.State,
		"creator":                  s.user(st.Creator),
		"description":              st.Description,
		"environment":              st.Environment,
		"target_url":               st.TargetURL,
		"log_url":                  st.LogURL,
		"environment_url":          st.EnvironmentURL,
		"created_at":               timestamp(st.CreatedAt),
		"updated_at":               timestamp(st.CreatedAt),
		"deployment_url":           deployment,
		"repository_url":           s.repoURL(r),
		"performed_via_github_app": s.app(),
	}
}

// forkLocked is repo as forked by owner: the head repository of a pull
// request from a fork.
func (s *Server) forkLocked(repo map[string]any, owner string) map[string]any {
	fork := make(map[string]any, len(repo))
	for k, v := range repo {
		fork[k] = v
	}
	name, _ := repo["name"].(string)
	id, _ := repo["id"].(int64)
	fork["id"] = id + 1_000_000
	fork["full_name"] = owner + "/" + name
	fork["owner"] = s.user(owner)
	fork["fork"] = true
	fork["html_url"] = "https://github.com/" + owner + "/" + name
	return fork
}

// associationLocked is login's author_association on r.
func (r *repoState) associationLocked(login string) string {
	switch {
	case strings.EqualFold(login, r.info.Owner):
		return "OWNER"
	case strings.HasSuffix(login, "[bot]"):
		return "NONE"
	}
	switch r.roleLocked(login) {
	case "admin", "maintain", "write", "triage":
		return "COLLABORATOR"
	}
	return "CONTRIBUTOR"
}

// pullRequestMinimal is the short pull request object check runs and
// suites list.
func (s *Server) pullRequestMinimal(r *repoState, p *pullState) map[string]any {
	repo := map[string]any{"id": r.info.ID, "url": s.repoURL(r), "name": r.info.Name}
	return map[string]any{
		"id":     p.id,
		"number": p.Number,
		"url":    s.repoURL(r) + "/pulls/" + strconv.Itoa(p.Number),
		"head":   map[string]any{"ref": p.HeadRef, "sha": p.HeadSHA, "repo": repo},
		"base":   map[string]any{"ref": p.BaseRef, "sha": p.BaseSHA, "repo": repo},
	}
}

// openPullsLocked lists the open pull requests whose head is sha, by
// number, as minimal objects.
func (s *Server) openPullsLocked(r *repoState, sha string) []any {
	var nums []int
	for n, p := range r.pulls {
		if p.State == "open" && p.HeadSHA == sha {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := []any{}
	for _, n := range nums {
		out = append(out, s.pullRequestMinimal(r, r.pulls[n]))
	}
	return out
}

// checkRunObjectLocked is the check-run object for cr.
func (s *Server) checkRunObjectLocked(r *repoState, cr *CheckRun) map[string]any {
	id := strconv.FormatInt(cr.ID, 10)
	return map[string]any{
		"id":           cr.ID,
		"node_id":      nodeID("CheckRun", cr.ID),
		"head_sha":     cr.HeadSHA,
		"external_id":  cr.ExternalID,
		"url":          s.repoURL(r) + "/check-runs/" + id,
		"html_url":     htmlBase + r.info.FullName() + "/runs/" + id,
		"details_url":  nullString(cr.DetailsURL),
		"status":       cr.Status,
		"conclusion":   nullString(cr.Conclusion),
		"started_at":   nullTime(cr.StartedAt),
		"completed_at": nullTime(cr.CompletedAt),
		"name":         cr.Name,
		"output": map[string]any{
			"title":             nullString(cr.Output.Title),
			"summary":           nullString(cr.Output.Summary),
			"text":              nullString(cr.Output.Text),
			"annotations_count": len(cr.Annotations),
			"annotations_url":   s.repoURL(r) + "/check-runs/" + id + "/annotations",
		},
		"check_suite":   map[string]any{"id": s.suiteLocked(r, cr.HeadSHA)},
		"app":           s.app(),
		"pull_requests": s.openPullsLocked(r, cr.HeadSHA),
	}
}

// commentObjectLocked is the issue-comment object for c.
func (s *Server) commentObjectLocked(r *repoState, c *commentState) map[string]any {
	api, html := s.repoURL(r), htmlBase+r.info.FullName()
	n, id := strconv.Itoa(c.Number), strconv.FormatInt(c.ID, 10)
	kind := "issues"
	if r.pulls[c.Number] != nil {
		kind = "pull"
	}
	counts := map[string]any{
		"url": api + "/issues/comments/" + id + "/reactions", "total_count": len(c.reactions),
		"+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
	}
	for _, re := range c.reactions {
		counts[re.content] = counts[re.content].(int) + 1
	}
	var via any
	if strings.EqualFold(c.User, appSlug+"[bot]") {
		via = s.app()
	}
	return map[string]any{
		"url":                      api + "/issues/comments/" + id,
		"html_url":                 html + "/" + kind + "/" + n + "#issuecomment-" + id,
		"issue_url":                api + "/issues/" + n,
		"id":                       c.ID,
		"node_id":                  nodeID("IssueComment", c.ID),
		"user":                     s.user(c.User),
		"created_at":               timestamp(c.CreatedAt),
		"updated_at":               timestamp(c.UpdatedAt),
		"author_association":       r.associationLocked(c.User),
		"performed_via_github_app": via,
		"body":                     c.Body,
		"reactions":                counts,
	}
}
