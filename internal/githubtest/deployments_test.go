package githubtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
)

func TestDeploymentsAndStatuses(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()

	d, resp, err := c.Repositories.CreateDeployment(ctx, "octo", "fleet", &github.DeploymentRequest{
		Ref:              github.String(pr.HeadSHA),
		Task:             github.String("apply"),
		AutoMerge:        github.Bool(false),
		RequiredContexts: &[]string{},
		Payload:          map[string]any{"cluster": "prod", "pull_request": pr.Number},
		Environment:      github.String("prod"),
		Description:      github.String("Apply #1 to prod"),
	})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || d.GetSHA() != pr.HeadSHA || d.GetRef() != pr.HeadSHA || d.GetTask() != "apply" ||
		d.GetEnvironment() != "prod" || d.GetCreator().GetLogin() != s.BotLogin() || d.GetID() == 0 {
		t.Errorf("deployment: status %d sha %s ref %s task %s environment %s creator %s", resp.StatusCode, d.GetSHA(), d.GetRef(),
			d.GetTask(), d.GetEnvironment(), d.GetCreator().GetLogin())
	}
	var payload map[string]any
	if err := json.Unmarshal(d.Payload, &payload); err != nil || payload["cluster"] != "prod" {
		t.Errorf("payload %s: %v", d.Payload, err)
	}

	for _, st := range []github.DeploymentStatusRequest{
		{State: github.String("in_progress"), LogURL: github.String("https://ci.example/apply/1"), Description: github.String("Applying")},
		{State: github.String("success"), EnvironmentURL: github.String("https://prod.example/"), Description: github.String("Applied"),
			LogURL: github.String("https://ci.example/apply/1")},
	} {
		got, resp, err := c.Repositories.CreateDeploymentStatus(ctx, "octo", "fleet", d.GetID(), &st)
		if err != nil {
			t.Fatalf("create status %s: %v", st.GetState(), err)
		}
		if resp.StatusCode != http.StatusCreated || got.GetState() != st.GetState() || got.GetEnvironment() != "prod" ||
			got.GetTargetURL() != "https://ci.example/apply/1" || got.GetLogURL() != "https://ci.example/apply/1" ||
			resp.Header.Get("Location") != got.GetURL() {
			t.Errorf("status %s: %d state %s environment %s target %s log %s location %s", st.GetState(), resp.StatusCode,
				got.GetState(), got.GetEnvironment(), got.GetTargetURL(), got.GetLogURL(), resp.Header.Get("Location"))
		}
	}
	// A status without URLs: GitHub sends them empty.
	if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo", "fleet", d.GetID(), &github.DeploymentStatusRequest{State: github.String("queued")}); err != nil {
		t.Fatalf("status without URLs: %v", err)
	}

	deps := s.Deployments("octo", "fleet")
	if len(deps) != 1 {
		t.Fatalf("Deployments: %d, want 1", len(deps))
	}
	var states []string
	for _, st := range deps[0].Statuses {
		states = append(states, st.State+" "+st.LogURL)
	}
	if want := []string{"in_progress https://ci.example/apply/1", "success https://ci.example/apply/1", "queued "}; !slices.Equal(states, want) {
		t.Errorf("statuses %q, want %q", states, want)
	}
	if dep := deps[0]; dep.Ref != pr.HeadSHA || dep.Task != "apply" || dep.Description != "Apply #1 to prod" || dep.AutoMerge ||
		dep.RequiredContexts == nil || len(dep.RequiredContexts) != 0 || dep.ProductionEnvironment || dep.Statuses[1].EnvironmentURL != "https://prod.example/" {
		t.Errorf("deployment = %+v", dep)
	}

	statuses, _, err := c.Repositories.ListDeploymentStatuses(ctx, "octo", "fleet", d.GetID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, st := range statuses {
		listed = append(listed, st.GetState())
	}
	if want := []string{"queued", "success", "in_progress"}; !slices.Equal(listed, want) {
		t.Errorf("listed statuses %q, want newest first %q", listed, want)
	}
	if _, resp, err := c.Repositories.ListDeploymentStatuses(ctx, "octo", "fleet", 1, nil); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("statuses of an unknown deployment: %v, want a 404", err)
	}
}

func TestListDeployments(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()
	for _, d := range []struct{ ref, task, env string }{
		{"main", "deploy", "production"},
		{"change", "apply", "prod"},
		{fx.headSHA, "apply", "stage"},
		{"main", "apply", "prod"},
	} {
		_, _, err := c.Repositories.CreateDeployment(ctx, "octo", "fleet", &github.DeploymentRequest{
			Ref: github.String(d.ref), Task: github.String(d.task), Environment: github.String(d.env),
		})
		if err != nil {
			t.Fatalf("deploy %s: %v", d.ref, err)
		}
	}
	list := func(opts *github.DeploymentsListOptions) []string {
		t.Helper()
		var out []string
		for {
			page, resp, err := c.Repositories.ListDeployments(ctx, "octo", "fleet", opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range page {
				out = append(out, d.GetRef()[:min(6, len(d.GetRef()))]+"/"+d.GetTask()+"/"+d.GetEnvironment())
			}
			if resp.NextPage == 0 {
				return out
			}
			opts.Page = resp.NextPage
		}
	}
	for _, tc := range []struct {
		name string
		opts github.DeploymentsListOptions
		want []string
	}{
		{"all, newest first", github.DeploymentsListOptions{ListOptions: github.ListOptions{PerPage: 3}},
			[]string{"main/apply/prod", fx.headSHA[:6] + "/apply/stage", "change/apply/prod", "main/deploy/production"}},
		{"by sha", github.DeploymentsListOptions{SHA: fx.headSHA}, []string{fx.headSHA[:6] + "/apply/stage", "change/apply/prod"}},
		{"by ref", github.DeploymentsListOptions{Ref: "main"}, []string{"main/apply/prod", "main/deploy/production"}},
		{"by task and environment", github.DeploymentsListOptions{Task: "apply", Environment: "prod"}, []string{"main/apply/prod", "change/apply/prod"}},
		{"no match", github.DeploymentsListOptions{Environment: "qa"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(&tc.opts); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	deps := s.Deployments("octo", "fleet")
	if len(deps) != 4 || !deps[0].ProductionEnvironment || deps[1].ProductionEnvironment || !deps[0].AutoMerge ||
		deps[0].RequiredContexts != nil || string(deps[0].Payload) != "{}" || deps[0].SHA != fx.baseSHA {
		t.Errorf("defaults: %+v", deps[0])
	}
}

// TestDeploymentRefusals covers GitHub's two 409s: a ref behind the
// default branch (auto_merge) and contexts that have not passed.
func TestDeploymentRefusals(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()
	deploy := func(req github.DeploymentRequest) (*github.Deployment, int, string) {
		t.Helper()
		d, resp, err := c.Repositories.CreateDeployment(ctx, "octo", "fleet", &req)
		var ghErr *github.ErrorResponse
		if errors.As(err, &ghErr) {
			return d, resp.StatusCode, ghErr.Message + fmt.Sprint(ghErr.Errors)
		}
		var accepted *github.AcceptedError
		if errors.As(err, &accepted) {
			// go-github's word for a 202.
			return d, resp.StatusCode, string(accepted.Raw)
		}
		if err != nil {
			t.Fatalf("deploy: %v", err)
		}
		return d, resp.StatusCode, ""
	}

	// Check runs on the head: plan passed, apply still runs.
	for _, run := range []github.CreateCheckRunOptions{
		{Name: "plan", HeadSHA: fx.headSHA, Conclusion: github.String("success")},
		{Name: "lint", HeadSHA: fx.headSHA, Conclusion: github.String("neutral")},
		{Name: "apply", HeadSHA: fx.headSHA, Status: github.String("in_progress")},
	} {
		if _, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", run); err != nil {
			t.Fatal(err)
		}
	}
	if _, status, msg := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA)}); status != http.StatusConflict ||
		!strings.Contains(msg, "Commit status checks failed") || !strings.Contains(msg, "required_contexts") {
		t.Errorf("every context, apply running: %d %s, want a 409", status, msg)
	}
	if _, status, msg := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA), RequiredContexts: &[]string{"plan", "lint"}}); status != http.StatusCreated {
		t.Errorf("plan and lint required: %d %s, want 201", status, msg)
	}
	if _, status, _ := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA), RequiredContexts: &[]string{"plan", "images"}}); status != http.StatusConflict {
		t.Errorf("a missing required context: %d, want a 409", status)
	}
	if _, status, msg := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA), RequiredContexts: &[]string{}}); status != http.StatusCreated {
		t.Errorf("no contexts required: %d %s, want 201", status, msg)
	}

	// main moves on: the head is behind it now.
	writeFile(t, fx.dir, "inventory/racks.yaml", "racks:\n- name: r1\n- name: r2\n")
	gitRun(t, fx.dir, "commit", "-q", "-am", "second rack")
	main := gitRun(t, fx.dir, "rev-parse", "main")
	noChecks := &[]string{}
	if _, status, msg := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA), RequiredContexts: noChecks}); status != http.StatusConflict ||
		!strings.Contains(msg, "Conflict merging main into "+fx.headSHA) {
		t.Errorf("a SHA behind main with auto_merge: %d %s, want a 409", status, msg)
	}
	if _, status, msg := deploy(github.DeploymentRequest{Ref: github.String(fx.headSHA), AutoMerge: github.Bool(false), RequiredContexts: noChecks}); status != http.StatusCreated {
		t.Errorf("a SHA behind main without auto_merge: %d %s, want 201", status, msg)
	}
	d, status, msg := deploy(github.DeploymentRequest{Ref: github.String("change"), RequiredContexts: noChecks})
	if status != http.StatusAccepted || d.GetID() != 0 || !strings.Contains(msg, "Auto-merged main into change on deployment.") {
		t.Errorf("branch change behind main: %d %s (deployment %d), want a 202 and no deployment", status, msg, d.GetID())
	}
	merged := gitRun(t, fx.dir, "rev-parse", "change")
	if parents := gitRun(t, fx.dir, "log", "-1", "--format=%P", merged); parents != fx.headSHA+" "+main {
		t.Errorf("change after the auto-merge: parents %s, want the old head and main", parents)
	}
	d, status, msg = deploy(github.DeploymentRequest{Ref: github.String("change"), RequiredContexts: noChecks})
	if status != http.StatusCreated || d.GetSHA() != merged {
		t.Errorf("change again: %d %s sha %s, want 201 on %s", status, msg, d.GetSHA(), merged)
	}
	if n := len(s.Deployments("octo", "fleet")); n != 4 {
		t.Errorf("%d deployments, want 4: refusals create none", n)
	}
}

func TestDeploymentAutoInactive(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()
	var ids []int64
	for _, env := range []string{"stage", "prod", "stage", "stage"} {
		d, _, err := c.Repositories.CreateDeployment(ctx, "octo", "fleet", &github.DeploymentRequest{
			Ref: github.String("main"), Environment: github.String(env), ProductionEnvironment: github.Bool(env == "prod"),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.GetID())
	}
	status := func(i int, state string, autoInactive *bool) {
		t.Helper()
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo", "fleet", ids[i], &github.DeploymentStatusRequest{
			State: github.String(state), AutoInactive: autoInactive,
		}); err != nil {
			t.Fatal(err)
		}
	}
	status(0, "success", nil)
	status(1, "success", nil)
	status(2, "success", github.Bool(false)) // leaves the first alone
	status(3, "success", nil)                // makes the first and the third inactive
	var got []string
	for _, d := range s.Deployments("octo", "fleet") {
		var states []string
		for _, st := range d.Statuses {
			states = append(states, st.State)
		}
		got = append(got, d.Environment+":"+strings.Join(states, ","))
	}
	want := []string{"stage:success,inactive", "prod:success", "stage:success,inactive", "stage:success"}
	if !slices.Equal(got, want) {
		t.Errorf("statuses %q, want %q", got, want)
	}
}
