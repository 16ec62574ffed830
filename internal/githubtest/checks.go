package githubtest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// checkRunRequest is the body of a check run create or update; the
// description has checked its types, enums and limits already.
type checkRunRequest struct {
	Name        *string    `json:"name"`
	HeadSHA     *string    `json:"head_sha"`
	DetailsURL  *string    `json:"details_url"`
	ExternalID  *string    `json:"external_id"`
	Status      *string    `json:"status"`
	StartedAt   *time.Time `json:"started_at"`
	Conclusion  *string    `json:"conclusion"`
	CompletedAt *time.Time `json:"completed_at"`
	Output      *struct {
		Title       *string             `json:"title"`
		Summary     *string             `json:"summary"`
		Text        *string             `json:"text"`
		Annotations []annotationRequest `json:"annotations"`
	} `json:"output"`
	Actions []struct {
		Label       string `json:"label"`
		Description string `json:"description"`
		Identifier  string `json:"identifier"`
	} `json:"actions"`
}

type annotationRequest struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	StartColumn     *int   `json:"start_column"`
	EndColumn       *int   `json:"end_column"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title"`
	RawDetails      string `json:"raw_details"`
}

// Limits GitHub documents for annotations beyond the description's schema.
const (
	maxAnnotationTitle   = 255      // characters
	maxAnnotationMessage = 64 << 10 // bytes, for message and raw_details
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkRunRules applies the rules GitHub documents for check runs that the
// description's schema cannot express; it returns the offending field and
// why, or "" when the request is fine. existing is the run being updated,
// or nil.
func checkRunRules(req *checkRunRequest, existing *CheckRun) (field, why string) {
	if req.Conclusion != nil && *req.Conclusion == "stale" {
		return "conclusion", "you cannot change a check run conclusion to stale, only GitHub can set this"
	}
	completing := (req.Status != nil && *req.Status == "completed") || req.CompletedAt != nil
	if completing && req.Conclusion == nil && (existing == nil || existing.Conclusion == "") {
		return "conclusion", "conclusion is required when status is completed or completed_at is given"
	}
	if req.Output == nil {
		return "", ""
	}
	for i, a := range req.Output.Annotations {
		at := "output.annotations[" + strconv.Itoa(i) + "]"
		switch {
		case a.StartLine < 1:
			return at + ".start_line", "line numbers start at 1"
		case a.EndLine < a.StartLine:
			return at + ".end_line", "end_line is before start_line"
		case (a.StartColumn != nil || a.EndColumn != nil) && a.StartLine != a.EndLine:
			return at + ".start_column", "start_column and end_column are only supported on the same line"
		case a.StartColumn != nil && *a.StartColumn < 1:
			return at + ".start_column", "column numbers start at 1"
		case a.StartColumn != nil && a.EndColumn != nil && *a.EndColumn < *a.StartColumn:
			return at + ".end_column", "end_column is before start_column"
		case utf8.RuneCountInString(a.Title) > maxAnnotationTitle:
			return at + ".title", fmt.Sprintf("title is longer than %d characters", maxAnnotationTitle)
		case len(a.Message) > maxAnnotationMessage:
			return at + ".message", "message is larger than 64 KB"
		case len(a.RawDetails) > maxAnnotationMessage:
			return at + ".raw_details", "raw_details is larger than 64 KB"
		}
	}
	return "", ""
}

// apply changes cr as the request asks: fields given replace, annotations
// and actions append, a conclusion completes the run.
func (req *checkRunRequest) apply(cr *CheckRun, now time.Time) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if req.Name != nil && *req.Name != "" {
		// go-github sends "name" with every update, empty when unchanged.
		cr.Name = *req.Name
	}
	set(&cr.DetailsURL, req.DetailsURL)
	set(&cr.ExternalID, req.ExternalID)
	set(&cr.Status, req.Status)
	if req.StartedAt != nil {
		cr.StartedAt = req.StartedAt.UTC()
	}
	if req.Conclusion != nil {
		cr.Conclusion, cr.Status = *req.Conclusion, "completed"
	}
	if req.CompletedAt != nil {
		cr.CompletedAt = req.CompletedAt.UTC()
	}
	if cr.Status == "completed" && cr.CompletedAt.IsZero() {
		cr.CompletedAt = now
	}
	if o := req.Output; o != nil {
		set(&cr.Output.Title, o.Title)
		set(&cr.Output.Summary, o.Summary)
		set(&cr.Output.Text, o.Text)
		for _, a := range o.Annotations {
			an := Annotation{
				Path: a.Path, StartLine: a.StartLine, EndLine: a.EndLine,
				Level: a.AnnotationLevel, Message: a.Message, Title: a.Title, RawDetails: a.RawDetails,
			}
			if a.StartColumn != nil {
				an.StartColumn = *a.StartColumn
			}
			if a.EndColumn != nil {
				an.EndColumn = *a.EndColumn
			}
			cr.Annotations = append(cr.Annotations, an)
		}
	}
	if req.Actions != nil {
		cr.Actions = cr.Actions[:0]
		for _, a := range req.Actions {
			cr.Actions = append(cr.Actions, CheckRunAction{Label: a.Label, Description: a.Description, Identifier: a.Identifier})
		}
	}
}

func (s *Server) createCheckRun(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req checkRunRequest
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	if field, why := checkRunRules(&req, nil); field != "" {
		return validationFailed("CheckRun", field, why)
	}
	// GitHub wants the commit's full SHA, and the commit must exist.
	sha := *req.HeadSHA
	if !fullSHA.MatchString(sha) {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
	}
	if got, err := r.git.resolve(ctx, sha); err != nil || got != sha {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
	}
	cr := &CheckRun{HeadSHA: sha, Status: "queued", StartedAt: c.now, DetailsURL: appHomepage}
	req.apply(cr, c.now)
	s.mu.Lock()
	defer s.mu.Unlock()
	cr.ID = s.newIDLocked()
	r.checkRuns = append(r.checkRuns, cr)
	return reply{status: http.StatusCreated, body: s.checkRunObjectLocked(r, cr)}
}

func (s *Server) updateCheckRun(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	var req checkRunRequest
	if err := decodeBody(c, &req); err != nil {
		return errorReply(http.StatusBadRequest, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := r.checkRunLocked(intParam(c, "check_run_id"))
	if cr == nil {
		return notFound()
	}
	if field, why := checkRunRules(&req, cr); field != "" {
		return validationFailed("CheckRun", field, why)
	}
	req.apply(cr, c.now)
	cr.Updates++
	return reply{status: http.StatusOK, body: s.checkRunObjectLocked(r, cr)}
}

func (s *Server) getCheckRun(_ context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := r.checkRunLocked(intParam(c, "check_run_id"))
	if cr == nil {
		return notFound()
	}
	return reply{status: http.StatusOK, body: s.checkRunObjectLocked(r, cr)}
}

func (s *Server) listCheckRuns(ctx context.Context, c *call) reply {
	r := s.lookupRepo(c)
	if r == nil {
		return notFound()
	}
	sha, err := r.git.resolve(ctx, c.params["ref"])
	if err != nil {
		return notFound()
	}
	q := c.r.URL.Query()
	name, status, filter := q.Get("check_name"), q.Get("status"), q.Get("filter")
	if appFilter := q.Get("app_id"); appFilter != "" && appFilter != strconv.Itoa(appID) {
		// Only the fake's own app creates check runs.
		return reply{status: http.StatusOK, body: map[string]any{"total_count": 0, "check_runs": []any{}}}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var runs []*CheckRun
	latest := map[string]bool{}
	// Newest first, as GitHub lists them; "latest" (the default filter)
	// keeps the newest run of each name.
	for i := len(r.checkRuns) - 1; i >= 0; i-- {
		cr := r.checkRuns[i]
		if cr.HeadSHA != sha || (name != "" && cr.Name != name) || (status != "" && cr.Status != status) {
			continue
		}
		if filter != "all" {
			if latest[cr.Name] {
				continue
			}
			latest[cr.Name] = true
		}
		runs = append(runs, cr)
	}
	from, to, _, link := paginate(c, len(runs))
	list := make([]any, 0, to-from)
	for _, cr := range runs[from:to] {
		list = append(list, s.checkRunObjectLocked(r, cr))
	}
	var header http.Header
	if link != "" {
		header = http.Header{"Link": {link}}
	}
	return reply{status: http.StatusOK, header: header, body: map[string]any{"total_count": len(runs), "check_runs": list}}
}
