package githubtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v66/github"
)

// TestBadRequestsFailTheTest proves the description bites: each request
// GitHub would refuse is reported as a test failure and refused.
func TestBadRequestsFailTheTest(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	statuses := "repos/octo/fleet/deployments/" + strconv.FormatInt(newDeployment(t, c), 10) + "/statuses"
	action := func(label, description, identifier string) map[string]any {
		return map[string]any{"label": label, "description": description, "identifier": identifier}
	}

	annotations := func(n int, extra map[string]any) []any {
		var out []any
		for i := range n {
			a := map[string]any{"path": "a.yaml", "start_line": i + 1, "end_line": i + 1, "annotation_level": "notice", "message": "m"}
			for k, v := range extra {
				a[k] = v
			}
			out = append(out, a)
		}
		return out
	}
	checkRun := func(fields map[string]any) map[string]any {
		body := map[string]any{"name": "plan", "head_sha": fx.headSHA}
		for k, v := range fields {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
		complaint    string // part of the reported failure
	}{{
		name: "51 annotations", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t", "summary": "s", "annotations": annotations(51, nil)}}),
		status: http.StatusUnprocessableEntity, complaint: "maximum number of items is 50",
	}, {
		name: "bad conclusion", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"conclusion": "passed"}),
		status: http.StatusUnprocessableEntity, complaint: "conclusion",
	}, {
		name: "missing head_sha", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"head_sha": nil}),
		status: http.StatusUnprocessableEntity, complaint: `property "head_sha" is missing`,
	}, {
		name: "output without summary", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t"}}),
		status: http.StatusUnprocessableEntity, complaint: `property "summary" is missing`,
	}, {
		name: "summary too long", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t", "summary": strings.Repeat("x", 65536)}}),
		status: http.StatusUnprocessableEntity, complaint: "maximum string length is 65535",
	}, {
		name: "annotation level", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t", "summary": "s", "annotations": annotations(1, map[string]any{"annotation_level": "error"})}}),
		status: http.StatusUnprocessableEntity, complaint: "annotation_level",
	}, {
		name: "columns across lines", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t", "summary": "s", "annotations": annotations(1, map[string]any{"end_line": 3, "start_column": 2})}}),
		status: http.StatusUnprocessableEntity, complaint: "same line",
	}, {
		name: "line zero", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"output": map[string]any{"title": "t", "summary": "s", "annotations": annotations(1, map[string]any{"start_line": 0, "end_line": 0})}}),
		status: http.StatusUnprocessableEntity, complaint: "start at 1",
	}, {
		name: "completed without conclusion", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"status": "completed"}),
		status: http.StatusUnprocessableEntity, complaint: "conclusion is required",
	}, {
		name: "stale conclusion", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"conclusion": "stale"}),
		status: http.StatusUnprocessableEntity, complaint: "stale",
	}, {
		name: "unknown commit", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"head_sha": strings.Repeat("0", 40)}),
		status: http.StatusUnprocessableEntity, complaint: "No commit found",
	}, {
		name: "branch for head_sha", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"head_sha": "change"}),
		status: http.StatusUnprocessableEntity, complaint: "No commit found",
	}, {
		name: "four actions", method: "POST", path: "repos/octo/fleet/check-runs",
		body: checkRun(map[string]any{"actions": []any{
			map[string]any{"label": "a", "description": "d", "identifier": "i"},
			map[string]any{"label": "b", "description": "d", "identifier": "i"},
			map[string]any{"label": "c", "description": "d", "identifier": "i"},
			map[string]any{"label": "d", "description": "d", "identifier": "i"},
		}}),
		status: http.StatusUnprocessableEntity, complaint: "maximum number of items is 3",
	}, {
		name: "action label too long", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"actions": []any{action(strings.Repeat("l", 21), "d", "apply")}}),
		status: http.StatusUnprocessableEntity, complaint: "maximum string length is 20",
	}, {
		name: "action description too long", method: "PATCH", path: "repos/octo/fleet/check-runs/1",
		body:   map[string]any{"actions": []any{action("Apply", strings.Repeat("d", 41), "apply")}},
		status: http.StatusUnprocessableEntity, complaint: "maximum string length is 40",
	}, {
		name: "action identifier too long", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"actions": []any{action("Apply", "d", strings.Repeat("i", 21))}}),
		status: http.StatusUnprocessableEntity, complaint: "maximum string length is 20",
	}, {
		name: "action without identifier", method: "POST", path: "repos/octo/fleet/check-runs",
		body:   checkRun(map[string]any{"actions": []any{map[string]any{"label": "Apply", "description": "d"}}}),
		status: http.StatusUnprocessableEntity, complaint: `property "identifier" is missing`,
	}, {
		name: "deployment without ref", method: "POST", path: "repos/octo/fleet/deployments",
		body:   map[string]any{"environment": "prod"},
		status: http.StatusUnprocessableEntity, complaint: `property "ref" is missing`,
	}, {
		name: "deployment of an unknown ref", method: "POST", path: "repos/octo/fleet/deployments",
		body:   map[string]any{"ref": "nope"},
		status: http.StatusUnprocessableEntity, complaint: "No ref found for: nope",
	}, {
		name: "deployment status description too long", method: "POST", path: statuses,
		body:   map[string]any{"state": "success", "description": strings.Repeat("é", 141)},
		status: http.StatusUnprocessableEntity, complaint: "maximum is 140",
	}, {
		name: "deployment status state", method: "POST", path: statuses,
		body:   map[string]any{"state": "done"},
		status: http.StatusUnprocessableEntity, complaint: "state",
	}, {
		name: "relative log_url", method: "POST", path: statuses,
		body:   map[string]any{"state": "in_progress", "log_url": "/logs/1"},
		status: http.StatusUnprocessableEntity, complaint: "log_url must be an absolute URL",
	}, {
		name: "pull requests of an unknown commit", method: "GET", path: "repos/octo/fleet/commits/" + strings.Repeat("0", 40) + "/pulls",
		status: http.StatusUnprocessableEntity, complaint: "No commit found",
	}, {
		name: "reviews with a bad per_page", method: "GET", path: "repos/octo/fleet/pulls/1/reviews?per_page=many",
		status: http.StatusUnprocessableEntity, complaint: "per_page",
	}, {
		name: "a deployment on its own", method: "GET", path: "repos/octo/fleet/deployments/1",
		status: http.StatusNotFound, complaint: "no such operation",
	}, {
		name: "update with a string id", method: "PATCH", path: "repos/octo/fleet/check-runs/abc",
		body:   map[string]any{"status": "in_progress"},
		status: http.StatusUnprocessableEntity, complaint: "check_run_id",
	}, {
		name: "reaction content", method: "POST", path: "repos/octo/fleet/issues/comments/1/reactions",
		body:   map[string]any{"content": "thumbsup"},
		status: http.StatusUnprocessableEntity, complaint: "content",
	}, {
		name: "comment without body", method: "POST", path: "repos/octo/fleet/issues/1/comments",
		body:   map[string]any{"text": "hi"},
		status: http.StatusUnprocessableEntity, complaint: `property "body" is missing`,
	}, {
		name: "comment too long", method: "POST", path: "repos/octo/fleet/issues/1/comments",
		body:   map[string]any{"body": strings.Repeat("é", 65537)},
		status: http.StatusUnprocessableEntity, complaint: "maximum is 65536",
	}, {
		name: "bad status filter", method: "GET", path: "repos/octo/fleet/commits/main/check-runs?status=done",
		status: http.StatusUnprocessableEntity, complaint: `parameter "status"`,
	}, {
		name: "unknown path", method: "GET", path: "repos/octo/fleet/check-suites",
		status: http.StatusNotFound, complaint: "no such operation",
	}, {
		name: "unknown method", method: "DELETE", path: "repos/octo/fleet/check-runs/1",
		status: http.StatusNotFound, complaint: "no such operation",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			status := rawCall(t, c, tc.method, tc.path, tc.body)
			errs := rec.take()
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if len(errs) != 1 || !strings.Contains(errs[0], tc.complaint) {
				t.Errorf("reported failures %q, want one mentioning %q", errs, tc.complaint)
			}
		})
	}
	if runs := s.CheckRuns("octo", "fleet"); len(runs) != 0 {
		t.Errorf("refused requests made %d check runs", len(runs))
	}
}

// TestAllowedRequestsPass checks the edges the description allows are not
// reported: exactly 50 annotations, a 65535-character summary, a comment
// of 65536 characters, a 404 for an unknown repository.
func TestAllowedRequestsPass(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	statuses := "repos/octo/fleet/deployments/" + strconv.FormatInt(newDeployment(t, c), 10) + "/statuses"
	action := map[string]any{"label": strings.Repeat("l", 20), "description": strings.Repeat("é", 40), "identifier": strings.Repeat("i", 20)}
	var annotations []any
	for i := range 50 {
		annotations = append(annotations, map[string]any{"path": "a.yaml", "start_line": i + 1, "end_line": i + 1,
			"start_column": 1, "end_column": 4, "annotation_level": "failure", "message": "m", "title": strings.Repeat("t", 255)})
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"50 annotations", "POST", "repos/octo/fleet/check-runs", map[string]any{"name": "plan", "head_sha": fx.headSHA, "conclusion": "failure",
			"output": map[string]any{"title": "t", "summary": strings.Repeat("s", 65535), "annotations": annotations}}, http.StatusCreated},
		{"longest comment", "POST", "repos/octo/fleet/issues/" + itoa(pr.Number) + "/comments", map[string]any{"body": strings.Repeat("é", 65536)}, http.StatusCreated},
		{"unknown repository", "GET", "repos/octo/other/pulls/1", nil, http.StatusNotFound},
		{"unknown pull request", "GET", "repos/octo/fleet/pulls/99", nil, http.StatusNotFound},
		{"unknown check run", "PATCH", "repos/octo/fleet/check-runs/12", map[string]any{"status": "in_progress"}, http.StatusNotFound},
		{"enterprise prefix", "GET", "api/v3/repos/octo/fleet/pulls/" + itoa(pr.Number), nil, http.StatusOK},
		{"three actions at their limits", "POST", "repos/octo/fleet/check-runs", map[string]any{"name": "plan", "head_sha": fx.headSHA,
			"conclusion": "success", "actions": []any{action, action, action}}, http.StatusCreated},
		{"140-character status description", "POST", statuses, map[string]any{"state": "failure", "description": strings.Repeat("é", 140),
			"log_url": "https://ci.example/1", "environment_url": ""}, http.StatusCreated},
		{"status of an unknown deployment", "POST", "repos/octo/fleet/deployments/1/statuses", map[string]any{"state": "success"}, http.StatusNotFound},
		{"reviews of an unknown pull request", "GET", "repos/octo/fleet/pulls/99/reviews", nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status := rawCall(t, c, tc.method, tc.path, tc.body); status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if errs := rec.take(); len(errs) != 0 {
				t.Errorf("reported failures %q, want none", errs)
			}
		})
	}
}

// newDeployment deploys main and returns the deployment's id.
func newDeployment(t *testing.T, c *github.Client) int64 {
	t.Helper()
	d, _, err := c.Repositories.CreateDeployment(context.Background(), "octo", "fleet", &github.DeploymentRequest{Ref: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	return d.GetID()
}

// TestBadResponsesFailTheTest proves the fake's answers are checked too:
// a check run without head_sha, as a buggy fake might send, is reported.
func TestBadResponsesFailTheTest(t *testing.T) {
	sp, err := loadedSpec()
	if err != nil {
		t.Fatal(err)
	}
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	r := s.repos[repoKey("octo", "fleet")]
	good := s.checkRunObjectLocked(r, &CheckRun{ID: 5, Name: "plan", HeadSHA: fx.headSHA, Status: "queued"})

	req := httptest.NewRequest("GET", "/repos/octo/fleet/check-runs/5", nil)
	rt, err := sp.findRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mutate  func(map[string]any)
		wantErr string
	}{
		{"as built", func(map[string]any) {}, ""},
		{"no head_sha", func(o map[string]any) { delete(o, "head_sha") }, `property "head_sha" is missing`},
		{"unknown status", func(o map[string]any) { o["status"] = "running" }, "status"},
		{"id as string", func(o map[string]any) { o["id"] = "5" }, "id"},
		{"relative url", func(o map[string]any) { o["output"].(map[string]any)["annotations_url"] = "/annotations" }, "not an absolute URI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o map[string]any
			b, _ := json.Marshal(good)
			_ = json.Unmarshal(b, &o)
			tc.mutate(o)
			b, _ = json.Marshal(o)
			err := sp.validateResponse(context.Background(), req, rt, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, b)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid check run refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func otherKey(t *testing.T) *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 1024) // small: only its signature matters
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// numericIssJWT is a JWT whose iss is the app id as a JSON number, which
// GitHub accepts too.
func (s *Server) numericIssJWT(t *testing.T) string {
	now := time.Now().Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": s.AppID(), "iat": now - 30, "exp": now + 60,
	}).SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthentication(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "repos/octo/fleet/pulls/1", "", http.StatusUnauthorized},
		{"made-up token", "GET", "repos/octo/fleet/pulls/1", "token ghs_madeup", http.StatusUnauthorized},
		{"JWT for an installation endpoint", "GET", "repos/octo/fleet/pulls/1", "Bearer " + s.testJWT(t, 0, 0), http.StatusUnauthorized},
		{"no JWT", "GET", "app", "", http.StatusUnauthorized},
		{"good JWT", "GET", "app", "Bearer " + s.testJWT(t, -30, 120), http.StatusOK},
		{"expired JWT", "GET", "app", "Bearer " + s.testJWT(t, -700, -100), http.StatusUnauthorized},
		{"JWT for too long", "GET", "app", "Bearer " + s.testJWT(t, 0, 3600), http.StatusUnauthorized},
		{"JWT of another app", "GET", "app", "Bearer " + signJWT(t, s.key, "7", 0, 60), http.StatusUnauthorized},
		{"JWT signed with another key", "GET", "app", "Bearer " + signJWT(t, otherKey(t), "424242", 0, 60), http.StatusUnauthorized},
		{"numeric iss", "GET", "app", "Bearer " + s.numericIssJWT(t), http.StatusOK},
		{"installation token for /app", "POST", "app/installations/51515151/access_tokens", "token ghs_madeup", http.StatusUnauthorized},
		{"another installation", "POST", "app/installations/1/access_tokens", "Bearer " + s.testJWT(t, 0, 60), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.URL()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	sp, err := loadedSpec()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format, value string
		ok            bool
	}{
		{"uri", "https://api.github.com/repos/o/r", true},
		{"uri", "/repos/o/r", false},
		{"uri", "", false},
		{"uri-template", "https://api.github.com/repos/o/r/git/blobs{/sha}", true},
		{"uri-template", "repos/o/r/git/blobs{/sha}", false},
		{"email", "ada@example.com", true},
		{"email", "ada", false},
	} {
		err := sp.formats[tc.format].Validate(tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: got %v, want ok %v", tc.format, tc.value, err, tc.ok)
		}
	}
}
