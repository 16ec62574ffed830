package githubapp

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-github/v66/github"
)

// Requirement is one condition a pull request must meet before /apply
// deploys it, beside the commenter's permission.
type Requirement string

// The apply requirements.
const (
	// RequirePlan: the "plan" check run succeeded on the pull request's
	// current head.
	RequirePlan Requirement = "plan"
	// RequireImages: every image check run of the head succeeded, and
	// every image the plan builds has one.
	RequireImages Requirement = "images"
	// RequireApproved: someone other than the author approved the pull
	// request, and has not withdrawn it (requested changes since) nor had
	// it dismissed.
	RequireApproved Requirement = "approved"
	// RequireMergeable: GitHub says the pull request can be merged.
	RequireMergeable Requirement = "mergeable"
)

// AllRequirements are the apply requirements in force by default, in the
// order refusals list them.
func AllRequirements() []Requirement {
	return []Requirement{RequirePlan, RequireImages, RequireApproved, RequireMergeable}
}

// ParseRequirements reads a comma-separated list of requirements such as
// "plan,approved". "none" (alone) is an empty, non-nil list: no
// requirement. An empty string means all of them.
func ParseRequirements(s string) ([]Requirement, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return AllRequirements(), nil
	case "none":
		return []Requirement{}, nil
	}
	var out []Requirement
	for _, word := range strings.Split(s, ",") {
		r := Requirement(strings.ToLower(strings.TrimSpace(word)))
		if !slices.Contains(AllRequirements(), r) {
			var names []string
			for _, x := range AllRequirements() {
				names = append(names, string(x))
			}
			return nil, fmt.Errorf("unknown apply requirement %q: the requirements are %s, or none", word, strings.Join(names, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// applyFacts is what GitHub says about a pull request when /apply is asked
// for, as the requirements read it.
type applyFacts struct {
	// head is the pull request's current head commit; author its author's
	// login.
	head, author string
	// runs are the app's latest check runs on head, by name.
	runs map[string]*github.CheckRun
	// builds are the image variants the plan of head builds.
	builds []string
	// reviews are the pull request's reviews in the order submitted.
	reviews []*github.PullRequestReview
	// mergeable is GitHub's answer, nil while it computes it;
	// mergeableState its detail ("clean", "dirty", …).
	mergeable      *bool
	mergeableState string
}

// unmet checks the requirements against the facts and returns, in the
// order of reqs, a sentence for every one that is not met.
func unmet(reqs []Requirement, f applyFacts) []string {
	var out []string
	for _, r := range reqs {
		switch r {
		case RequirePlan:
			out = append(out, planUnmet(f)...)
		case RequireImages:
			out = append(out, imagesUnmet(f)...)
		case RequireApproved:
			if len(approvers(f.reviews, f.author)) == 0 {
				out = append(out, "**approved**: no one but the author has approved this pull request (an approval that was dismissed, or followed by a request for changes from the same reviewer, does not count).")
			}
		case RequireMergeable:
			switch {
			case f.mergeable == nil:
				out = append(out, "**mergeable**: GitHub has not computed yet whether this pull request can be merged; try again in a minute.")
			case !*f.mergeable:
				out = append(out, fmt.Sprintf("**mergeable**: GitHub says this pull request cannot be merged (mergeable state `%s`); bring it up to date with its base first.", f.mergeableState))
			}
		}
	}
	return out
}

func planUnmet(f applyFacts) []string {
	run := f.runs[planCheck]
	switch {
	case run == nil:
		return []string{fmt.Sprintf("**plan**: the head %s has no `plan` check run yet; comment `/plan` if it does not come.", short(f.head))}
	case run.GetStatus() != "completed":
		return []string{fmt.Sprintf("**plan**: the `plan` check run of the head %s is still %s.", short(f.head), strings.ReplaceAll(run.GetStatus(), "_", " "))}
	case run.GetConclusion() != "success":
		return []string{fmt.Sprintf("**plan**: the `plan` check run of the head %s concluded `%s`, not `success`.", short(f.head), run.GetConclusion())}
	}
	return nil
}

func imagesUnmet(f applyFacts) []string {
	var out []string
	variants := slices.Clone(f.builds)
	for name := range f.runs {
		if v, ok := strings.CutPrefix(name, imageCheckPrefix); ok && !slices.Contains(variants, v) {
			variants = append(variants, v)
		}
	}
	sort.Strings(variants)
	for _, v := range variants {
		run := f.runs[imageCheckPrefix+v]
		name := "`" + imageCheckPrefix + v + "`"
		switch {
		case run == nil:
			out = append(out, fmt.Sprintf("**images**: the plan builds the image `%s` and the head %s has no %s check run yet.", v, short(f.head), name))
		case run.GetStatus() != "completed":
			out = append(out, fmt.Sprintf("**images**: %s is still %s.", name, strings.ReplaceAll(run.GetStatus(), "_", " ")))
		case run.GetConclusion() != "success":
			out = append(out, fmt.Sprintf("**images**: %s concluded `%s`, not `success`.", name, run.GetConclusion()))
		}
	}
	return out
}

// approvers are the reviewers other than author whose latest deciding
// review approves: APPROVED, CHANGES_REQUESTED and DISMISSED decide, a
// COMMENTED review leaves the reviewer's standing as it was.
func approvers(reviews []*github.PullRequestReview, author string) []string {
	latest := map[string]string{}
	var order []string
	for _, rv := range reviews {
		login := rv.GetUser().GetLogin()
		if login == "" || strings.EqualFold(login, author) {
			continue
		}
		switch state := strings.ToUpper(rv.GetState()); state {
		case "APPROVED", "CHANGES_REQUESTED", "DISMISSED":
			key := strings.ToLower(login)
			if _, seen := latest[key]; !seen {
				order = append(order, login)
			}
			latest[key] = state
		}
	}
	var out []string
	for _, login := range order {
		if latest[strings.ToLower(login)] == "APPROVED" {
			out = append(out, login)
		}
	}
	return out
}

// gatherFacts asks GitHub what the requirements read. Only what reqs need
// is asked for; pr is the pull request as just read.
func (a *App) gatherFacts(ctx context.Context, c commentContext, pr *github.PullRequest, builds []string, reqs []Requirement) (applyFacts, error) {
	f := applyFacts{
		head: pr.GetHead().GetSHA(), author: pr.GetUser().GetLogin(), builds: builds,
		mergeable: pr.Mergeable, mergeableState: pr.GetMergeableState(), runs: map[string]*github.CheckRun{},
	}
	if slices.Contains(reqs, RequirePlan) || slices.Contains(reqs, RequireImages) {
		runs, err := a.latestRuns(ctx, c.gh, c.owner, c.repo, f.head)
		if err != nil {
			return f, err
		}
		f.runs = runs
	}
	if slices.Contains(reqs, RequireApproved) {
		opts := &github.ListOptions{PerPage: 100}
		for {
			page, resp, err := c.gh.PullRequests.ListReviews(ctx, c.owner, c.repo, c.number, opts)
			if err != nil {
				return f, fmt.Errorf("reading the reviews of #%d: %w", c.number, err)
			}
			f.reviews = append(f.reviews, page...)
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
	return f, nil
}

// latestRuns returns the app's latest check run of each name on sha.
func (a *App) latestRuns(ctx context.Context, gh *github.Client, owner, repo, sha string) (map[string]*github.CheckRun, error) {
	out := map[string]*github.CheckRun{}
	opts := &github.ListCheckRunsOptions{AppID: github.Int64(a.cfg.AppID), Filter: github.String("latest"), ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := gh.Checks.ListCheckRunsForRef(ctx, owner, repo, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("listing the check runs of %s: %w", short(sha), err)
		}
		for _, run := range page.CheckRuns {
			// Newest first: the first of a name is its latest.
			if _, seen := out[run.GetName()]; !seen {
				out[run.GetName()] = run
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
