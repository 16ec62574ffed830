// Command bot is cluster-as-code's command line and its GitHub App server. Its subcommands
// check a fleet repository, plan the deployment between two revisions of it, build its images,
// apply a plan to a cluster through Ironic, and serve the GitHub App that does all of it from
// pull requests.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitFindings = 1 // the command ran and found validation errors
	exitUsage    = 2 // bad flags, bad input, or anything that stopped the command
)

// errFindings says the command ran and the repository has validation errors.
var errFindings = errors.New("validation errors")

const usage = `bot — cluster-as-code: a git repository as the source of truth for bare-metal clusters

Usage:
  bot validate [--repo DIR] [--rev REV]
      Check the fleet repository: print every finding as file:line:col: severity rule: message.
      Exits 1 when there are errors.
  bot plan [--repo DIR] [--base REV | --bootstrap] [--head REV] [--format markdown|json] [--output FILE]
      Plan the deployment from --base (default HEAD) to --head (default: the working tree).
      --bootstrap plans the whole fleet from nothing. Exits 1 when the head has errors.
  bot rules
      List the validation rules and their ids.
  bot image build [NAME...]
      Build the fleet's OS images with buildah, parents first; an image whose id did not
      change is not built again. 'bot image --help' lists the image commands.
  bot apply --cluster NAME [--base REV | --bootstrap] [--head REV] [--dry-run] [flags]
      Execute the plan of one cluster on Ironic: wave by wave, behind the health gates of
      specs/, journaled so that it resumes after any interruption. --dry-run prints the Ironic
      calls a real run would make, in order, and changes nothing.
  bot rollout status [ID] | bot rollout resume ID
      The rollouts in the journal; resume one that was cut off or halted.
  bot ironic enroll [--driver NAME] [--dry-run]
      Register the fleet's servers in Ironic (name, UUID, driver info, ports by MAC).
  bot serve [flags]
      Run the GitHub App: plan every pull request that touches the fleet (the check run
      "plan"), build its images, apply it on /apply or the Apply button and after merge, and
      report deployments. Configuration from flags or CAC_* variables; see docs/github-app.md.

Run 'bot COMMAND --help' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process's exit code. It never panics: an
// internal error is reported as one line, like any other.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "bot: internal error: %v (please report this)\n", r)
			code = exitUsage
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "validate":
		err = runValidate(ctx, args[1:], stdout, stderr)
	case "plan":
		err = runPlan(ctx, args[1:], stdout, stderr)
	case "rules":
		err = runRules(args[1:], stdout)
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	case "image":
		err = runImage(ctx, args[1:], stdout, stderr)
	case "apply":
		err = runApply(ctx, args[1:], stdout, stderr)
	case "rollout":
		err = runRollout(ctx, args[1:], stdout, stderr)
	case "ironic":
		err = runIronic(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		// One line: the full usage would bury the mistake.
		fmt.Fprintf(stderr, "bot: unknown command %q; the commands are validate, plan, rules, image, apply, rollout, ironic and serve (see bot --help)\n", args[0])
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFindings):
		return exitFindings
	case errors.Is(err, errHelp):
		return exitOK
	default:
		fmt.Fprintf(stderr, "bot %s: %v\n", args[0], err)
		return exitUsage
	}
}
