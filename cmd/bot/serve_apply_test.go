package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
)

// TestServeApplyChecksRequirementsThenDeploysAndMerges: a reader's /apply
// is refused; a writer's is refused with every unmet requirement at once;
// once the pull request is approved, mergeable and its image built, /apply
// c000 deploys c000 and reports it (deployment, check run, comment, the
// bot's rollout page). The merge then deploys what /apply did not: c001,
// planned from the push's previous commit since nothing was recorded
// there, and not c000, which runs the pull request's head already.
func TestServeApplyChecksRequirementsThenDeploysAndMerges(t *testing.T) {
	env := newSAEnv(t, time.Second, map[string]func(string){"agents": saAgentsChange(t)})
	gh := env.gh
	gh.SetPermission(owner, repoName, "rita", "read")
	gh.SetPermission(owner, repoName, "walt", "write")
	dataDir := t.TempDir()
	s := saStartServe(t, gh, dataDir, env.args()...)

	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "agents", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	planRun := completedPlan(t, gh, pr.HeadSHA, s.log)
	if planRun.Conclusion != "success" || len(planRun.Actions) != 1 || planRun.Actions[0].Identifier != "apply" {
		t.Errorf("plan check run: %s with actions %+v; want success with the Apply button", planRun.Conclusion, planRun.Actions)
	}

	// A reader may not apply.
	seen := 0
	s.saComment(t, gh, pr.Number, "rita", "/apply")
	refusal := saNextBotComment(t, gh, s.log, pr.Number, &seen, "@rita")
	for _, want := range []string{"`/apply` needs write permission", "you have read"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the reader's refusal lacks %q:\n%s", want, refusal)
		}
	}

	// A writer's /apply is refused while the requirements are not met,
	// with all of them at once.
	s.saComment(t, gh, pr.Number, "walt", "/apply c000")
	refusal = saNextBotComment(t, gh, s.log, pr.Number, &seen, "@walt")
	for _, want := range []string{"nothing was deployed", "**approved**", "**images**", "`image: agent`", "**mergeable**", "has not computed yet"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, refusal)
		}
	}
	if strings.Contains(refusal, "**plan**") {
		t.Errorf("the refusal says the plan is missing, which succeeded:\n%s", refusal)
	}
	if d := gh.Deployments(owner, repoName); len(d) != 0 {
		t.Errorf("refused applies made %d deployments", len(d))
	}
	if w := env.ironicWrites(); len(w) != 0 {
		t.Errorf("refused applies wrote to Ironic: %v", w)
	}

	// A push to another branch deploys nothing.
	var push map[string]any
	json.Unmarshal(gh.PushEvent(owner, repoName, pr.BaseSHA, pr.HeadSHA), &push)
	push["ref"] = "refs/heads/agents"
	other, _ := json.Marshal(push)
	s.accept(t, "push", other)
	waitFor(t, "the push to another branch to be worked", s.log, func() bool { return s.jobsDone(t, "push") == 1 })

	env.ready(t, pr.Number, "agent")
	s.saComment(t, gh, pr.Number, "walt", "/apply c000")
	ack := saNextBotComment(t, gh, s.log, pr.Number, &seen, "@walt, applying")
	if !strings.Contains(ack, "`c000`") || strings.Contains(ack, "`c001`") {
		t.Errorf("the acknowledgement does not name c000 alone:\n%s", ack)
	}
	d := saFinishedDeployment(t, gh, s.log, pr.HeadSHA, "c000")
	id := saCheckDeployment(t, s, d)
	saCheckApplyRun(t, gh, pr.HeadSHA, "c000")
	final := saNextBotComment(t, gh, s.log, pr.Number, &seen, "Deployed this pull request's head")
	for _, want := range []string{"**c000**", "1 node in 1 wave", id, "/unlock c000"} {
		if !strings.Contains(final, want) {
			t.Errorf("the final comment lacks %q:\n%s", want, final)
		}
	}
	env.checkNodeDeployed(t, saAgentC000UUID, env.imageOf(t, "main", "agents", saAgentC000))
	if n := env.node(t, saAgentC001UUID); n.ProvisionState != "enroll" {
		t.Errorf("c001's agent is %s: /apply c000 touched c001", n.ProvisionState)
	}
	if ds := saDeploymentsTo(gh, pr.HeadSHA, "c001"); len(ds) != 0 {
		t.Errorf("/apply c000 made %d deployments to c001", len(ds))
	}
	status, page := saGet(t, s.base+"/rollouts/"+id)
	for _, want := range []string{"status    succeeded", "wave 1 of 1, 1 of 1 nodes done", saAgentC000} {
		if status != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("GET /rollouts/%s: %d, lacks %q:\n%s", id, status, want, page)
		}
	}

	// The merge deploys c001, which /apply left out; c000 has it already.
	merge := gh.MergePullRequest(owner, repoName, pr.Number)
	s.accept(t, "pull_request", gh.PullRequestEvent("closed", owner, repoName, pr.Number))
	s.accept(t, "push", gh.PushEvent(owner, repoName, pr.BaseSHA, merge))
	md := saFinishedDeployment(t, gh, s.log, merge, "c001")
	saCheckDeployment(t, s, md)
	applyRun := saCheckApplyRun(t, gh, merge, "c001")
	if !strings.Contains(applyRun.Output.Summary, "Nothing was recorded as deployed to `c001` yet: planned from the push's previous commit "+pr.BaseSHA[:7]) {
		t.Errorf("the merge's check run does not say where its plan came from:\n%s", applyRun.Output.Summary)
	}
	mergeComment := saNextBotComment(t, gh, s.log, pr.Number, &seen, "Rolling out the default branch")
	for _, want := range []string{"| `c000` | `" + pr.HeadSHA[:7] + "` | nothing to do", "| `c001` | `" + pr.BaseSHA[:7] + "` | rollout"} {
		if !strings.Contains(mergeComment, want) {
			t.Errorf("the merge comment lacks %q:\n%s", want, mergeComment)
		}
	}
	saNextBotComment(t, gh, s.log, pr.Number, &seen, "Deployed the merge "+merge[:7]+" to **c001**")
	waitFor(t, "the lock to be released", s.log, func() bool {
		for _, c := range saBotComments(gh, pr.Number) {
			if strings.Contains(c, "Released this pull request's lock on `c000`: it was merged.") {
				return true
			}
		}
		return false
	})
	env.checkNodeDeployed(t, saAgentC001UUID, env.imageOf(t, "main", "agents", saAgentC001))
	if ds := saDeploymentsTo(gh, merge, "c000"); len(ds) != 0 {
		t.Errorf("the merge made %d deployments to c000, which runs it already", len(ds))
	}
	waitFor(t, "every push to be worked", s.log, func() bool { return s.jobsDone(t, "push") == 2 })
	s.stop()

	st := saOpenStore(t, dataDir)
	for cluster, want := range map[string]string{"c000": pr.HeadSHA, "c001": merge} {
		got, err := st.Deployed(context.Background(), owner+"/"+repoName, cluster)
		if err != nil || got.Commit != want {
			t.Errorf("deployed to %s: %+v %v, want %.7s", cluster, got, err, want)
		}
	}
	if locks, _ := st.Locks(context.Background(), owner+"/"+repoName); len(locks) != 0 {
		t.Errorf("locks after the merge: %+v", locks)
	}
}

// TestServeApplyLocksClusters: the Apply button applies for whoever presses
// it (if they may) and locks the clusters; a second pull request's plan
// says so and its /apply is refused with a link to the holder, until the
// holder unlocks. The second pull request's rollout then halts (Ironic
// refuses a deploy once), and /apply again resumes it.
func TestServeApplyLocksClusters(t *testing.T) {
	env := newSAEnv(t, time.Second, map[string]func(string){"agents": saAgentsChange(t), "gateway": saGatewayChange(t)})
	gh := env.gh
	gh.SetPermission(owner, repoName, "rita", "read")
	gh.SetPermission(owner, repoName, "walt", "write")
	s := saStartServe(t, gh, t.TempDir(), env.args()...)

	first := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "agents", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, first.Number))
	firstPlan := completedPlan(t, gh, first.HeadSHA, s.log)
	env.ready(t, first.Number, "agent")

	seenFirst := 0
	s.accept(t, "check_run", gh.CheckRunRequestedActionEvent(owner, repoName, firstPlan.ID, "apply", "rita"))
	refusal := saNextBotComment(t, gh, s.log, first.Number, &seenFirst, "@rita")
	if !strings.Contains(refusal, "the Apply button needs write permission") {
		t.Errorf("a reader's press of Apply: %s", refusal)
	}
	s.accept(t, "check_run", gh.CheckRunRequestedActionEvent(owner, repoName, firstPlan.ID, "apply", "walt"))
	ack := saNextBotComment(t, gh, s.log, first.Number, &seenFirst, "@walt, applying")
	if !strings.Contains(ack, "the Apply button") || !strings.Contains(ack, "`c000`") || !strings.Contains(ack, "`c001`") {
		t.Errorf("the Apply button's acknowledgement:\n%s", ack)
	}
	for _, cluster := range []string{"c000", "c001"} {
		saCheckDeployment(t, s, saFinishedDeployment(t, gh, s.log, first.HeadSHA, cluster))
	}

	second := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 2, BaseRef: "main", HeadRef: "gateway", Author: "eve"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, second.Number))
	secondPlan := completedPlan(t, gh, second.HeadSHA, s.log)
	holder := "https://github.com/" + owner + "/" + repoName + "/pull/1"
	if !strings.Contains(secondPlan.Output.Summary, "`c000` is locked by [#1]("+holder+")") {
		t.Errorf("the second plan does not say c000 is locked by #1:\n%s", secondPlan.Output.Summary)
	}
	env.ready(t, second.Number)

	seenSecond := 0
	s.saComment(t, gh, second.Number, "walt", "/apply")
	refusal = saNextBotComment(t, gh, s.log, second.Number, &seenSecond, "@walt")
	if !strings.Contains(refusal, "**locked**: `c000` is locked by [#1]("+holder+")") || !strings.Contains(refusal, "nothing was deployed") {
		t.Errorf("the refusal on a locked cluster:\n%s", refusal)
	}
	if ds := saDeploymentsTo(gh, second.HeadSHA, "c000"); len(ds) != 0 {
		t.Errorf("a refused apply made %d deployments", len(ds))
	}

	s.saComment(t, gh, first.Number, "walt", "/unlock c000")
	unlocked := saNextBotComment(t, gh, s.log, first.Number, &seenFirst, "released the lock")
	if !strings.Contains(unlocked, "`c000`") || strings.Contains(unlocked, "`c001`") {
		t.Errorf("the /unlock answer:\n%s", unlocked)
	}
	// Ironic refuses the deploy once: the rollout halts, and says so.
	env.proxy.FailNext("PUT", `/v1/nodes/[^/]+/states/provision`, http.StatusBadRequest, 1)
	s.saComment(t, gh, second.Number, "walt", "/apply")
	started := saNextBotComment(t, gh, s.log, second.Number, &seenSecond, "@walt, applying")
	halted := saNextBotComment(t, gh, s.log, second.Number, &seenSecond, "halted")
	for _, want := range []string{"**c000**", "0 of 1 nodes done, in wave 1 of 1", saAgentC000, "step trigger", "comment `/apply c000`"} {
		if !strings.Contains(halted, want) {
			t.Errorf("the comment on the halt lacks %q:\n%s", want, halted)
		}
	}
	if run, n := saCheckRun(gh, second.HeadSHA, "apply: c000"); n != 1 || run.Conclusion != "failure" || !strings.Contains(run.Output.Summary, "**Halted**") {
		t.Errorf("after the halt: %d apply check runs, the last %s:\n%s", n, run.Conclusion, run.Output.Summary)
	}

	// /apply again, on the same head, resumes that rollout: a new check
	// run, the same deployment.
	s.saComment(t, gh, second.Number, "walt", "/apply")
	resumed := saNextBotComment(t, gh, s.log, second.Number, &seenSecond, "@walt, applying")
	id := started[strings.Index(started, "[`c000-")+2:]
	id = id[:strings.Index(id, "`")]
	if !strings.Contains(resumed, id) || !strings.Contains(resumed, "| resumed |") {
		t.Errorf("the second /apply does not resume rollout %s:\n%s", id, resumed)
	}
	saNextBotComment(t, gh, s.log, second.Number, &seenSecond, "Deployed this pull request's head")
	ds := saDeploymentsTo(gh, second.HeadSHA, "c000")
	if len(ds) != 1 {
		t.Fatalf("%d deployments of the second pull request, want the one the rollout started with", len(ds))
	}
	var states []string
	for _, st := range ds[0].Statuses {
		states = append(states, st.State)
	}
	if strings.Join(states, " ") != "in_progress failure in_progress success" {
		t.Errorf("deployment statuses %v, want the halt and the resumed run", states)
	}
	if run, n := saCheckRun(gh, second.HeadSHA, "apply: c000"); n != 2 || run.Conclusion != "success" {
		t.Errorf("%d apply check runs, the last %s; want a second one, successful", n, run.Conclusion)
	}
	env.checkNodeDeployed(t, saAgentC000UUID, env.imageOf(t, "main", "gateway", saAgentC000))
	if n := env.node(t, saAgentC000UUID); n.Extra[ironic.ExtraRollout] == nil {
		t.Errorf("node %s records no rollout", saAgentC000)
	}
}

// TestServeApplyResumesAfterTheBotIsKilled: the bot killed with SIGKILL
// while a node deploys resumes the rollout when it starts again, and goes
// on reporting on the same check run and the same deployment.
func TestServeApplyResumesAfterTheBotIsKilled(t *testing.T) {
	env := newSAEnv(t, 2*time.Second, map[string]func(string){"agents": saAgentsChange(t)})
	gh := env.gh
	gh.SetPermission(owner, repoName, "walt", "write")
	secret := serveEnv(t, gh)
	addr, dataDir := freeAddr(t), t.TempDir()
	args := env.args("--apply-requirements", "none")
	first, log := saStartProcess(t, gh, addr, dataDir, args...)
	hook := "http://" + addr + "/api/github/webhooks"
	deliverOK := func(event string, payload []byte) {
		t.Helper()
		if status, body := deliver(t, hook, secret, randomID(), event, payload); status != http.StatusAccepted {
			t.Fatalf("delivering %s: %d %s", event, status, body)
		}
	}

	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "agents", Author: "alice"})
	payload, _ := gh.IssueCommentEvent(owner, repoName, pr.Number, "walt", "/apply c000")
	deliverOK("issue_comment", payload)

	// Kill the bot while the agent deploys: Ironic says it is deploying
	// and the rollout's check run exists.
	waitFor(t, "the agent to be deploying", log, func() bool {
		run, _ := saCheckRun(gh, pr.HeadSHA, "apply: c000")
		n := env.node(t, saAgentC000UUID)
		return run.ID != 0 && n.TargetProvisionState == "active"
	})
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	before, _ := saCheckRun(gh, pr.HeadSHA, "apply: c000")
	if before.Status == "completed" {
		t.Fatalf("the rollout completed before the kill; the test must kill it in flight")
	}

	_, log = saStartProcess(t, gh, addr, dataDir, args...)
	d := saFinishedDeployment(t, gh, log, pr.HeadSHA, "c000")
	id := saCheckDeployment(t, &served{base: "http://" + addr, log: log}, d)
	after := saCheckApplyRun(t, gh, pr.HeadSHA, "c000")
	if after.ID != before.ID {
		t.Errorf("the resumed rollout reported on check run %d, not on %d where it started", after.ID, before.ID)
	}
	if ds := saDeploymentsTo(gh, pr.HeadSHA, "c000"); len(ds) != 1 {
		t.Errorf("%d deployments, want the one the rollout started with", len(ds))
	}
	env.checkNodeDeployed(t, saAgentC000UUID, env.imageOf(t, "main", "agents", saAgentC000))
	waitFor(t, "the final comment", log, func() bool {
		for _, c := range saBotComments(gh, pr.Number) {
			if strings.Contains(c, "Deployed this pull request's head") && strings.Contains(c, id) {
				return true
			}
		}
		return false
	})
	status, page := saGet(t, "http://"+addr+"/rollouts/"+id)
	if status != http.StatusOK || !strings.Contains(page, "status    succeeded") || !strings.Contains(page, "begin resume") {
		t.Errorf("GET /rollouts/%s: %d; want it succeeded after a resume:\n%s", id, status, page)
	}
}

func TestServeApplyOptions(t *testing.T) {
	dir := t.TempDir()
	gates := filepath.Join(dir, "gates")
	writeFile(t, dir, "gates", "# where the gates reach the nodes\nable:2181 127.0.0.1:12181\n")
	writeFile(t, dir, "bad-gates", "able:2181\n")
	writeFile(t, dir, "ironic-password", "from-a-file\n")
	base := map[string]string{"CAC_APP_ID": "42", "CAC_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nk\n-----END RSA PRIVATE KEY-----", "CAC_WEBHOOK_SECRET": "s"}
	with := func(over map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range over {
			env[k] = v
		}
		return env
	}
	ironicFlags := []string{"--ironic-url", "http://ironic:6385", "--image-url", "http://bot:8080/images/"}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, o serveOptions)
	}{
		{name: "without Ironic nothing is applied", env: base, check: func(t *testing.T, o serveOptions) {
			if o.apply() != nil {
				t.Errorf("apply() = %+v, want nil without --ironic-url", o.apply())
			}
		}},
		{name: "defaults", args: ironicFlags, env: base, check: func(t *testing.T, o serveOptions) {
			a := o.apply()
			if a == nil || a.Ironic.URL != "http://ironic:6385" || a.ImageURL != "http://bot:8080/images/" || a.Ironic.PollInterval != 2*time.Second ||
				a.Timeout != 12*time.Hour || a.MaxRollouts != 4 || len(a.Requirements) != 4 || a.Ironic.Username != "" {
				t.Errorf("apply() = %+v", a)
			}
		}},
		{name: "from the environment", env: with(map[string]string{
			"CAC_IRONIC_URL": "http://ironic:6385", "CAC_IMAGE_URL": "http://images/", "CAC_IRONIC_USERNAME": "bot", "CAC_IRONIC_PASSWORD": "pw-from-env",
			"CAC_APPLY_REQUIREMENTS": "plan,approved", "CAC_GATE_ADDRESSES": gates, "CAC_SECRETS_DIR": dir, "VAULT_ADDR": "https://vault:8200", "VAULT_TOKEN": "tok",
			"CAC_IRONIC_POLL_INTERVAL": "500ms", "CAC_ROLLOUT_TIMEOUT": "3h", "CAC_MAX_ROLLOUTS": "2",
		}), check: func(t *testing.T, o serveOptions) {
			a := o.apply()
			if a.Ironic.Username != "bot" || a.Ironic.Password != "pw-from-env" || o.ironicPasswordSource != "environment CAC_IRONIC_PASSWORD" {
				t.Errorf("Ironic credentials %q/%q from %q", a.Ironic.Username, a.Ironic.Password, o.ironicPasswordSource)
			}
			if fmt.Sprint(a.Requirements) != "[plan approved]" || a.GateAddresses["able:2181"] != "127.0.0.1:12181" {
				t.Errorf("requirements %v, gate addresses %v", a.Requirements, a.GateAddresses)
			}
			if a.Secrets.Dir != dir || a.Secrets.VaultAddr != "https://vault:8200" || a.Secrets.VaultToken != "tok" {
				t.Errorf("secrets %s", a.Secrets)
			}
			if a.Ironic.PollInterval != 500*time.Millisecond || a.Timeout != 3*time.Hour || a.MaxRollouts != 2 {
				t.Errorf("poll %v, timeout %v, max rollouts %d", a.Ironic.PollInterval, a.Timeout, a.MaxRollouts)
			}
		}},
		{name: "password file beats the variable", args: append([]string{"--ironic-username", "bot", "--ironic-password-file", filepath.Join(dir, "ironic-password")}, ironicFlags...),
			env: with(map[string]string{"CAC_IRONIC_PASSWORD": "pw-from-env"}), check: func(t *testing.T, o serveOptions) {
				if o.apply().Ironic.Password != "from-a-file" {
					t.Errorf("password %q, want the file's", o.apply().Ironic.Password)
				}
			}},
		{name: "no requirement at all", args: append([]string{"--apply-requirements", "none"}, ironicFlags...), env: base, check: func(t *testing.T, o serveOptions) {
			if r := o.apply().Requirements; r == nil || len(r) != 0 {
				t.Errorf("requirements %#v, want none (empty, not nil: nil means all)", r)
			}
		}},
		{name: "the bot serves the images it builds", args: []string{"--ironic-url", "http://ironic:6385", "--public-url", "https://bot.example.com"}, env: base,
			check: func(t *testing.T, o serveOptions) {
				if a := o.apply(); a == nil || a.ImageURL != "" {
					t.Errorf("apply() = %+v, want the image URL left to the server (PUBLIC-URL/images/)", a)
				}
			}},
		{name: "Ironic without an image URL", args: []string{"--ironic-url", "http://ironic:6385", "--build-images=false"}, env: base,
			wantErr: []string{"--image-url"}},
		{name: "a username without a password", args: append([]string{"--ironic-username", "bot"}, ironicFlags...), env: base,
			wantErr: []string{"no Ironic password", "CAC_IRONIC_PASSWORD"}},
		{name: "bad values", args: append([]string{"--apply-requirements", "plan,green-light", "--gate-addresses", filepath.Join(dir, "bad-gates"),
			"--ironic-poll-interval", "soon", "--rollout-timeout", "-1h", "--max-rollouts", "0"}, ironicFlags...), env: base,
			wantErr: []string{`unknown apply requirement "green-light"`, "--gate-addresses", "want NODE:PORT HOST:PORT", "--ironic-poll-interval", "--rollout-timeout", "--max-rollouts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseServeOptions(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				c.check(t, o)
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.wantErr)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
