package specrun

import (
	"fmt"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func TestUsers(t *testing.T) {
	root := fixture(t)
	user := func(name string, groups ...string) model.UserSpec {
		u := model.UserSpec{Name: v(name, 30)}
		for i, g := range groups {
			u.Groups = append(u.Groups, v(g, 31+i))
		}
		return u
	}
	uid, _ := ids()
	tests := []struct {
		name string
		spec model.UserSpec
		want []outcome
	}{
		{"root in its primary group", user("root", "root"), []outcome{
			ok("user root: exists, uid 0"),
			ok("user root: member of group root"),
		}},
		{"primary group and a listed one", user("bob", "docker", "sudo"), []outcome{
			ok("user bob: exists, uid 1002"),
			ok("user bob: member of group docker"),
			ok("user bob: member of group sudo"),
		}},
		{"not in a group", user("alice", "docker", "sudo"), []outcome{
			ok("user alice: exists, uid 1001"),
			ok("user alice: member of group docker"),
			fail("user alice: want member of group sudo, is member of docker"),
		}},
		{"a group the image lacks", user("_chrony", "_chrony", "wheel"), []outcome{
			ok("user _chrony: exists, uid 105"),
			ok("user _chrony: member of group _chrony"),
			fail("user _chrony: want member of group wheel, which is not in the image's /etc/group"),
		}},
		{"missing: one failure, groups not checked", user("sshd", "nogroup"), []outcome{
			fail("user sshd: want it to exist, not in the image's /etc/passwd"),
		}},
		{"listed in a group but not a user", user("carol"), []outcome{
			fail("user carol: want it to exist, not in the image's /etc/passwd"),
		}},
		{"the image's users, not the host's", user("keeper"), []outcome{
			ok(fmt.Sprintf("user keeper: exists, uid %d", uid)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := check(t, &model.ImageSpec{Users: []model.UserSpec{tt.spec}}, Target{Root: root}, tt.want...)
			for i, r := range rep.Results {
				if want := 30 + i; r.Pos.Line != want {
					t.Errorf("result %d at line %d, want %d", i, r.Pos.Line, want)
				}
			}
		})
	}
}

func TestUsersWithoutPasswd(t *testing.T) {
	spec := &model.ImageSpec{Users: []model.UserSpec{{Name: v("root", 30)}}}
	check(t, spec, Target{Root: t.TempDir()},
		fail("user root: cannot tell whether it exists: reading the image's /etc/passwd: no such file or directory"))
}
