package specrun

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// account is a line of /etc/passwd or /etc/group.
type account struct {
	name    string
	id      int
	gid     int      // passwd: the primary group
	members []string // group: the listed members
}

// accounts is the image's users and groups.
type accounts struct {
	users, groups []account
	// err is set when a file could not be read; the lookups then find nothing.
	err error
}

// parseAccounts reads passwd or group lines: name:password:id:gid-or-members:…. Comments,
// blank lines and NIS "+"/"-" lines are skipped.
func parseAccounts(b []byte, group bool) []account {
	var out []account
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		a := account{name: f[0], id: id, gid: -1}
		if group {
			for m := range strings.SplitSeq(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					a.members = append(a.members, m)
				}
			}
		} else if gid, err := strconv.Atoi(f[3]); err == nil {
			a.gid = gid
		}
		out = append(out, a)
	}
	return out
}

// loadAccounts reads the image's /etc/passwd and /etc/group once per run.
func (c *checker) loadAccounts() *accounts {
	if c.accounts != nil {
		return c.accounts
	}
	a := &accounts{}
	if b, err := c.fs.readFile("/etc/passwd"); err != nil {
		a.err = fmt.Errorf("reading the image's /etc/passwd: %w", err)
	} else {
		a.users = parseAccounts(b, false)
	}
	if b, err := c.fs.readFile("/etc/group"); err != nil {
		a.err = cmp.Or(a.err, fmt.Errorf("reading the image's /etc/group: %w", err))
	} else {
		a.groups = parseAccounts(b, true)
	}
	c.accounts = a
	return a
}

func find(as []account, name string) (account, bool) {
	i := slices.IndexFunc(as, func(a account) bool { return a.name == name })
	if i < 0 {
		return account{}, false
	}
	return as[i], true
}

func findID(as []account, id int) (account, bool) {
	i := slices.IndexFunc(as, func(a account) bool { return a.id == id })
	if i < 0 {
		return account{}, false
	}
	return as[i], true
}

// idName names a numeric id as the image does: "root (0)", or "uid 1234" when it has no name.
func idName(as []account, id int, what string) string {
	if a, ok := findID(as, id); ok {
		return fmt.Sprintf("%s (%d)", a.name, id)
	}
	return fmt.Sprintf("%s %d (no name in the image)", what, id)
}

// groupsOf lists the groups a user belongs to: those of its primary group id first (an id may
// have several names), then those listing it as a member.
func (a *accounts) groupsOf(u account) []string {
	var out []string
	for _, g := range a.groups {
		if g.id == u.gid {
			out = append(out, g.name)
		}
	}
	for _, g := range a.groups {
		if slices.Contains(g.members, u.name) && !slices.Contains(out, g.name) {
			out = append(out, g.name)
		}
	}
	return out
}

// checkUsers checks each user exists, then its membership of each group listed: one result
// for the user, and one per group when it exists.
func (c *checker) checkUsers(specs []model.UserSpec) {
	if len(specs) == 0 {
		return
	}
	a := c.loadAccounts()
	for _, s := range specs {
		r := Result{Kind: KindUser, Subject: s.Name.V, Check: "exists", Want: "exists", Pos: at(s.Name.Pos, s.Pos)}
		if a.err != nil {
			c.add(r.fail(a.err.Error(), "user %s: cannot tell whether it exists: %v", s.Name.V, a.err))
			continue
		}
		u, ok := find(a.users, s.Name.V)
		if !ok {
			c.add(r.fail("no such user", "user %s: want it to exist, not in the image's /etc/passwd", s.Name.V))
			continue
		}
		c.add(r.pass(fmt.Sprintf("uid %d", u.id), "user %s: exists, uid %d", s.Name.V, u.id))
		have := a.groupsOf(u)
		for _, g := range s.Groups {
			r := Result{Kind: KindUser, Subject: s.Name.V, Check: "member", Want: g.V, Got: strings.Join(have, ", "), Pos: at(g.Pos, s.Name.Pos, s.Pos)}
			switch {
			case slices.Contains(have, g.V):
				c.add(r.pass(r.Got, "user %s: member of group %s", s.Name.V, g.V))
			case !hasName(a.groups, g.V):
				c.add(r.fail(r.Got, "user %s: want member of group %s, which is not in the image's /etc/group", s.Name.V, g.V))
			default:
				c.add(r.fail(r.Got, "user %s: want member of group %s, is member of %s", s.Name.V, g.V, listOrNone(have)))
			}
		}
	}
}

func hasName(as []account, name string) bool {
	_, ok := find(as, name)
	return ok
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
