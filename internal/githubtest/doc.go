// Package githubtest is an in-process fake GitHub for tests: it serves the
// REST endpoints the cluster-as-code bot uses, keeps their state (check runs
// and their action buttons, comments, reactions, permissions, pull requests
// over local git repositories with their reviews and mergeability, merges,
// deployments and their statuses) and builds webhook payloads from GitHub's
// real examples.
//
// Every request is checked against GitHub's own OpenAPI description
// (testdata/api.github.com.json, trimmed by ./trimspec): a request the
// description does not allow fails the test and is answered 422, an unknown
// path or method fails the test and is answered 404. The fake's own responses
// and webhook payloads are checked against the description's schemas too, so
// the fake cannot drift from what real GitHub sends.
//
// A test starts one with New, points a go-github client (with ghinstallation
// for app authentication) at URL, drives the bot with the webhook payloads
// from PullRequestEvent and friends, and then asserts on CheckRuns, Comments,
// Reactions and Requests:
//
//	gh := githubtest.New(t)
//	gh.AddRepo("octo", "fleet", gitDir) // a git repository with branches main and change
//	pr := gh.OpenPullRequest("octo", "fleet", githubtest.PullRequest{HeadRef: "change", Author: "ada"})
//	bot := startBot(t, gh.URL(), gh.AppID(), gh.PrivateKeyPEM(), secret)
//	req, _ := gh.WebhookRequest(ctx, bot.URL, "pull_request",
//		gh.PullRequestEvent("opened", "octo", "fleet", pr.Number), secret)
//	// … send req, wait for the bot …
//	runs := gh.CheckRuns("octo", "fleet")
//
// An apply goes the same way: Review and SetMergeable make the pull request
// ready, CheckRunRequestedActionEvent presses a check run's button (or
// IssueCommentEvent says /apply), and Deployments tells what the bot
// deployed and the statuses it reported. MergePullRequest merges in git and
// PushEvent tells of it.
//
// Tests that need git must have it installed, at least 2.38 for merges
// (scripts/test.sh sees to it).
package githubtest
