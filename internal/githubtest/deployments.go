package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"
)

// deploymentRequest is the body of a deployment create; the description
// has checked its types.
type deploymentRequest struct {
	Ref                   string          `json:"ref"`
	Task                  *string         `json:"task"`
	AutoMerge             *bool           `json:"auto_merge"`
	RequiredContexts      *[]string       `json:"required_contexts"`
	Payload               json.RawMessage `json:"payload"`
	Environment           *string         `json:"environment"`
	Description           *string         `json:"description"`
	TransientEnvironment  *bool           `json:"transient_environment"`
	ProductionEnvironment *bool           `json:"production_environment"`
}

// deploymentsDocs is where GitHub's deployment errors point.
const deploymentsDocs = "https://docs.github.com/rest/deployments/deployments#create-a-deployment"

// createDeployment creates a deployment of the commit ref names, as GitHub
// does, with its two refusals (409): with auto_merge (the default), a ref
// that does not contain the default branch's head is brought up to date
// first — a branch gets the default branch merged in and the answer is
// 202 without a deployment, anything else (a SHA, a tag) cannot be and is
// refused; and every required context must have passed: the check runs
// named in required_contexts, or when it is not given every check run of
// the commit (the latest of each name), where in progress or failed runs
// refuse. An empty required_contexts skips the check.
func (s *Server) createDeployment(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req deploymentRequest
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	sha, err := r.git.resolve(ctx, req.Ref)
	if err != nil {
		return errorReply(http.StatusUnprocessableEntity, "No ref found for: "+req.Ref)
	}
	autoMerge := req.AutoMerge == nil || *req.AutoMerge
	if autoMerge {
		if rep, done := s.autoMerge(ctx, r, req.Ref, sha, c.now); done {
			return rep
		}
	}

	d := &Deployment{
		SHA: sha, Ref: req.Ref, Task: "deploy", Environment: "production",
		Payload: json.RawMessage(`{}`), AutoMerge: autoMerge,
		Creator: appSlug + "[bot]", CreatedAt: c.now, UpdatedAt: c.now,
	}
	if req.Task != nil {
		d.Task = *req.Task
	}
	if req.Environment != nil {
		d.Environment = *req.Environment
	}
	d.OriginalEnvironment = d.Environment
	if req.Description != nil {
		d.Description = *req.Description
	}
	if p := bytes.TrimSpace(req.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		d.Payload = json.RawMessage(p)
	}
	if req.RequiredContexts != nil {
		d.RequiredContexts = append([]string{}, *req.RequiredContexts...)
	}
	if req.TransientEnvironment != nil {
		d.TransientEnvironment = *req.TransientEnvironment
	}
	d.ProductionEnvironment = d.Environment == "production"
	if req.ProductionEnvironment != nil {
		d.ProductionEnvironment = *req.ProductionEnvironment
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if contexts, ok := r.contextsPassLocked(sha, req.RequiredContexts); !ok {
		return reply{status: http.StatusConflict, body: map[string]any{
			"message": "Conflict: Commit status checks failed for " + req.Ref + ".",
			"errors": []any{map[string]any{
				"contexts": contexts, "resource": "Deployment", "field": "required_contexts", "code": "invalid",
			}},
			"documentation_url": deploymentsDocs,
		}}
	}
	d.ID = s.newIDLocked()
	r.deployments = append(r.deployments, d)
	return reply{status: http.StatusCreated, body: s.deploymentObjectLocked(r, d)}
}

// autoMerge brings ref, at commit sha, up to date with the default branch
// as a deployment with auto_merge does; done tells whether that answers
// the request.
func (s *Server) autoMerge(ctx context.Context, r *repoState, ref, sha string, now time.Time) (rep reply, done bool) {
	def := r.info.DefaultBranch
	defSHA, err := r.git.resolve(ctx, def)
	if err != nil {
		return errorReply(http.StatusInternalServerError, err.Error()), true
	}
	upToDate, err := r.git.isAncestor(ctx, defSHA, sha)
	if err != nil {
		return errorReply(http.StatusInternalServerError, err.Error()), true
	}
	if upToDate {
		return reply{}, false
	}
	conflict := reply{status: http.StatusConflict, body: map[string]any{
		"message": "Conflict merging " + def + " into " + ref + ".", "documentation_url": deploymentsDocs,
	}}
	if ref == def || !r.git.isBranch(ctx, ref) {
		// Only a branch can take the merge.
		return conflict, true
	}
	github := signature{"GitHub", "noreply@github.com", now}
	merge, err := r.git.merge(ctx, sha, defSHA, "Merge "+def+" into "+ref, github, github)
	if errors.Is(err, errConflict) {
		return conflict, true
	}
	if err == nil {
		err = r.git.advanceBranch(ctx, ref, sha, merge)
	}
	if err != nil {
		return errorReply(http.StatusInternalServerError, err.Error()), true
	}
	return reply{status: http.StatusAccepted, body: map[string]any{
		"message": "Auto-merged " + def + " into " + ref + " on deployment.",
	}}, true
}

// contextsPassLocked checks the contexts of commit sha a deployment
// requires: the named ones, or every one when required is nil. It returns
// the contexts with their states and whether all passed. Callers hold
// s.mu.
func (r *repoState) contextsPassLocked(sha string, required *[]string) (contexts []any, ok bool) {
	latest := map[string]*CheckRun{}
	var names []string
	for _, cr := range r.checkRuns {
		if cr.HeadSHA != sha {
			continue
		}
		if latest[cr.Name] == nil {
			names = append(names, cr.Name)
		}
		latest[cr.Name] = cr
	}
	if required != nil {
		names = *required
	}
	contexts, ok = []any{}, true
	for _, name := range names {
		cr := latest[name]
		if cr == nil {
			// A required context the commit lacks has not passed.
			ok = false
			continue
		}
		state := "success"
		switch {
		case cr.Status != "completed":
			state = "pending"
		case cr.Conclusion != "success" && cr.Conclusion != "neutral" && cr.Conclusion != "skipped":
			state = "failure"
		}
		ok = ok && state == "success"
		contexts = append(contexts, map[string]any{"context": name, "state": state})
	}
	return contexts, ok
}

func (s *Server) listDeployments(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	q := c.r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*Deployment
	// Newest first, as GitHub lists them.
	for i := len(r.deployments) - 1; i >= 0; i-- {
		d := r.deployments[i]
		if v := q.Get("sha"); v != "" && v != d.SHA {
			continue
		}
		if v := q.Get("ref"); v != "" && v != d.Ref {
			continue
		}
		if v := q.Get("task"); v != "" && v != d.Task {
			continue
		}
		if v := q.Get("environment"); v != "" && v != d.Environment {
			continue
		}
		found = append(found, d)
	}
	from, to, _, link := paginate(c, len(found))
	list := make([]any, 0, to-from)
	for _, d := range found[from:to] {
		list = append(list, s.deploymentObjectLocked(r, d))
	}
	return listReply(list, link)
}

// deploymentStatusRequest is the body of a deployment status create.
type deploymentStatusRequest struct {
	State          string  `json:"state"`
	TargetURL      *string `json:"target_url"`
	LogURL         *string `json:"log_url"`
	Description    *string `json:"description"`
	Environment    *string `json:"environment"`
	EnvironmentURL *string `json:"environment_url"`
	AutoInactive   *bool   `json:"auto_inactive"`
}

// maxDeploymentStatusDescription is GitHub's limit on a deployment
// status's description, in characters; the request's schema does not
// state it.
const maxDeploymentStatusDescription = 140

// createDeploymentStatus adds a status to a deployment. As on GitHub,
// log_url and target_url set each other, a status without an environment
// keeps the deployment's (one with an environment moves the deployment
// there), and a success with auto_inactive (the default) makes the
// earlier successful deployments to the same environment inactive, unless
// they are transient or production ones.
func (s *Server) createDeploymentStatus(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req deploymentStatusRequest
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	st := DeploymentStatus{State: req.State, Creator: appSlug + "[bot]", CreatedAt: c.now}
	if req.Description != nil {
		st.Description = *req.Description
	}
	if utf8.RuneCountInString(st.Description) > maxDeploymentStatusDescription {
		return validationFailed("DeploymentStatus", "description", "description is too long (maximum is 140 characters)")
	}
	for _, u := range []struct {
		field string
		value *string
		dst   *string
	}{
		{"target_url", req.TargetURL, &st.TargetURL},
		{"log_url", req.LogURL, &st.LogURL},
		{"environment_url", req.EnvironmentURL, &st.EnvironmentURL},
	} {
		if u.value == nil || *u.value == "" {
			continue
		}
		// GitHub answers these as URIs; the fake takes only absolute ones.
		if err := validateURI(*u.value); err != nil {
			return validationFailed("DeploymentStatus", u.field, u.field+" must be an absolute URL: "+err.Error())
		}
		*u.dst = *u.value
	}
	if st.LogURL == "" {
		st.LogURL = st.TargetURL
	}
	st.TargetURL = st.LogURL
	autoInactive := req.AutoInactive == nil || *req.AutoInactive

	s.mu.Lock()
	defer s.mu.Unlock()
	d := r.deploymentLocked(intParam(c, "deployment_id"))
	if d == nil {
		return notFound()
	}
	st.Environment = d.Environment
	if req.Environment != nil && *req.Environment != "" {
		st.Environment = *req.Environment
		d.Environment = *req.Environment
	}
	st.ID = s.newIDLocked()
	d.Statuses = append(d.Statuses, st)
	d.UpdatedAt = c.now
	if st.State == "success" && autoInactive {
		for _, prior := range r.deployments {
			if prior.ID >= d.ID || prior.Environment != d.Environment || prior.TransientEnvironment || prior.ProductionEnvironment ||
				len(prior.Statuses) == 0 || prior.Statuses[len(prior.Statuses)-1].State != "success" {
				continue
			}
			prior.Statuses = append(prior.Statuses, DeploymentStatus{
				ID: s.newIDLocked(), State: "inactive", Environment: prior.Environment,
				Creator: st.Creator, CreatedAt: c.now,
			})
			prior.UpdatedAt = c.now
		}
	}
	obj := s.deploymentStatusObjectLocked(r, d, &d.Statuses[len(d.Statuses)-1])
	return reply{status: http.StatusCreated, header: http.Header{"Location": {obj["url"].(string)}}, body: obj}
}

func (s *Server) listDeploymentStatuses(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := r.deploymentLocked(intParam(c, "deployment_id"))
	if d == nil {
		return notFound()
	}
	// Newest first, as GitHub lists them.
	n := len(d.Statuses)
	from, to, _, link := paginate(c, n)
	list := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		list = append(list, s.deploymentStatusObjectLocked(r, d, &d.Statuses[n-1-i]))
	}
	return listReply(list, link)
}
